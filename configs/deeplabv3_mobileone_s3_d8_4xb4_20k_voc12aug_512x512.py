# DeepLabV3 with a MobileOne-S3 backbone at output stride 8: the S4 config with the arch swapped.
_base_ = './deeplabv3_mobileone_s4_d8_4xb4_20k_voc12aug_512x512.py'

model = dict(
    backbone=dict(arch='s3', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s3}})),
    decode_head=dict(in_channels=2048),
    auxiliary_head=dict(in_channels=768))
