# RetinaNet with a MobileOne-S0 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

model = dict(
    backbone=dict(arch='s0', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s0}})),
    neck=dict(in_channels=[128, 256, 1024]))
