# The MobileOne backbone of the DeepLabV3 configs, for mmseg's DeepLabV3 R-50-D8 recipes: output stride 8 (stages 3
# and 4 keep stride 1 and dilate their 3x3 convs by 2 and 4), all four stages out (the ASPP head reads stage 4, the
# auxiliary FCN head stage 3), SyncBN, and mmpretrain's ImageNet-1k checkpoint. A config uses it as
#   model = dict(backbone={{_base_.mobileone_d8_backbone}}, ...)
# and swaps the arch (and its checkpoint) with model.backbone.arch.
_base_ = './mobileone_imagenet_checkpoints.py'

mobileone_d8_backbone = dict(
    _delete_=True,
    type='MobileOne',
    arch='s4',
    out_indices=(0, 1, 2, 3),
    strides=(2, 2, 1, 1),
    dilations=(1, 1, 2, 4),
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    init_cfg=dict(type='Pretrained', checkpoint={{_base_.imagenet_checkpoints.s4}}, prefix='backbone.'))
