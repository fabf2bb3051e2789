# RetinaNet with a MobileOne-S4 backbone on COCO: mmdet's RetinaNet R-50 FPN 1x
# recipe (8 GPUs x 2 images, SGD lr 0.01, 12 epochs) with the backbone swapped.
# The backbone starts from mmpretrain's ImageNet-1k checkpoint; set
# `model.backbone.init_cfg=None` (e.g. `--cfg-options model.backbone.init_cfg=None`)
# to train offline from scratch.
_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', './_base_/mobileone_imagenet_checkpoints.py']
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileOne',
        arch='s4',
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.imagenet_checkpoints.s4}}, prefix='backbone.')),
    # Stages 2-4 (strides 8, 16, 32) feed P3-P5, so the FPN starts at its first input.
    neck=dict(in_channels=[448, 896, 2048], start_level=0))
