# SSDLite with a MobileOne-S3 backbone on COCO: the S4 config with the arch swapped.
_base_ = './ssdlite_mobileone_s4_8xb24-600e_coco.py'

model = dict(
    backbone=dict(arch='s3', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s3}})),
    neck=dict(in_channels=(768, 2048), out_channels=(768, 2048, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(768, 2048, 512, 256, 256, 128)))
