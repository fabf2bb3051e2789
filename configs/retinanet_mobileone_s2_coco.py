# RetinaNet with a MobileOne-S2 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s2_8xb32_in1k_20221110-9c7ecb97.pth'  # noqa: E501
model = dict(
    backbone=dict(arch='s2', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[256, 640, 2048]))
