# DeepLabV3 with a MobileOne-S4 backbone at output stride 8 on Pascal VOC 2012 aug:
# mmseg's DeepLabV3 R-50-D8 recipe (4 GPUs x 4 crops of 512x512, 20k iterations,
# SyncBN) with the backbone swapped. Stages 3 and 4 keep stride 1 and dilate their
# 3x3 convs by 2 and 4. The ASPP head reads stage 4, the auxiliary FCN head stage 3.
# The backbone starts from mmpretrain's ImageNet-1k checkpoint; set
# `model.backbone.init_cfg=None` to train offline from scratch.
_base_ = [
    'mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py',
    './_base_/mobileone_imagenet_checkpoints.py',
]
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='MobileOne',
        arch='s4',
        out_indices=(0, 1, 2, 3),
        strides=(2, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.imagenet_checkpoints.s4}}, prefix='backbone.')),
    decode_head=dict(in_channels=2048),
    auxiliary_head=dict(in_channels=896))
