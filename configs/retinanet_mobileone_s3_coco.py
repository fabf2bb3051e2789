# RetinaNet with a MobileOne-S3 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

model = dict(
    backbone=dict(arch='s3', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s3}})),
    neck=dict(in_channels=[320, 768, 2048]))
