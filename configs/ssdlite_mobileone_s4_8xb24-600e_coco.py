# SSDLite with a MobileOne-S4 backbone on COCO, the detector of the MobileOne paper: mmdet's SSDLite MobileNetV2
# recipe (320x320, depthwise SSD neck and head, 8 GPUs x 24 images, 600 epochs as 120 epochs of a 5x repeated
# dataset, SGD with cosine LR) with the backbone swapped. Stages 3 and 4 (strides 16 and 32) feed the SSD neck, which
# adds four extra levels (strides 64 .. 320). The backbone starts from mmpretrain's ImageNet-1k checkpoint; set
# `model.backbone.init_cfg=None` to train offline from scratch.
_base_ = ['mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py', './_base_/mobileone_imagenet_checkpoints.py']
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileOne',
        arch='s4',
        out_indices=(2, 3),
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.imagenet_checkpoints.s4}}, prefix='backbone.')),
    neck=dict(in_channels=(896, 2048), out_channels=(896, 2048, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(896, 2048, 512, 256, 256, 128)))
