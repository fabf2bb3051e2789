# DeepLabV3 with a MobileOne-S4 backbone at output stride 8 on Pascal VOC 2012 aug:
# mmseg's DeepLabV3 R-50-D8 recipe (4 GPUs x 4 crops of 512x512, 20k iterations,
# SyncBN) with the backbone swapped (configs/_base_/deeplabv3_mobileone_d8.py: stages
# 3 and 4 keep stride 1 and dilate their 3x3 convs by 2 and 4; the ASPP head reads
# stage 4, the auxiliary FCN head stage 3). The backbone starts from mmpretrain's
# ImageNet-1k checkpoint; set `model.backbone.init_cfg=None` to train offline from scratch.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py', './_base_/deeplabv3_mobileone_d8.py']
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone={{_base_.mobileone_d8_backbone}},
    decode_head=dict(in_channels=2048),
    auxiliary_head=dict(in_channels=896))
