# RetinaNet with a MobileOne-S0 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

checkpoint = 'https://download.openmmlab.com/mmclassification/v0/mobileone/mobileone-s0_8xb32_in1k_20221110-0bc94952.pth'  # noqa: E501
model = dict(
    backbone=dict(arch='s0', init_cfg=dict(checkpoint=checkpoint)),
    neck=dict(in_channels=[128, 256, 1024]))
