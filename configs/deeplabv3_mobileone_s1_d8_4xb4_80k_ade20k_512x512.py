# DeepLabV3 with a MobileOne-S1 backbone at output stride 8: the S4 config with the arch swapped.
_base_ = './deeplabv3_mobileone_s4_d8_4xb4_80k_ade20k_512x512.py'

model = dict(
    backbone=dict(arch='s1', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s1}})),
    decode_head=dict(in_channels=1280),
    auxiliary_head=dict(in_channels=512))
