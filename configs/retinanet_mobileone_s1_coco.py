# RetinaNet with a MobileOne-S1 backbone on COCO: the S4 config with the arch swapped.
_base_ = './retinanet_mobileone_s4_coco.py'

model = dict(
    backbone=dict(arch='s1', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s1}})),
    neck=dict(in_channels=[192, 512, 1280]))
