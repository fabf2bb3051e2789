# RetinaNet with a MobileOne-S2 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

model = dict(
    backbone=dict(arch='s2', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s2}})),
    neck=dict(in_channels=[256, 640, 2048]))
