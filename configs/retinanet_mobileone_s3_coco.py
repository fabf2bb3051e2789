# RetinaNet with a MobileOne-S3 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s3_8xb32_in1k_20221110-c95eb3bf.pth'  # noqa: E501
model = dict(
    backbone=dict(arch='s3', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[320, 768, 2048]))
