# RetinaNet with a MobileOne-S1 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s1_8xb32_in1k_20221110-ceeef467.pth'  # noqa: E501
model = dict(
    backbone=dict(arch='s1', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[192, 512, 1280]))
