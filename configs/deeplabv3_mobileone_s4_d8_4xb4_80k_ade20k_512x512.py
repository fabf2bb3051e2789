# DeepLabV3 with a MobileOne-S4 backbone at output stride 8 on ADE20K: mmseg's
# DeepLabV3 R-50-D8 recipe (4 GPUs x 4 crops of 512x512, 80k iterations, SyncBN)
# with the backbone swapped, as in the VOC config beside this one.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py', './_base_/deeplabv3_mobileone_d8.py']
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone={{_base_.mobileone_d8_backbone}},
    decode_head=dict(in_channels=2048),
    auxiliary_head=dict(in_channels=896))
