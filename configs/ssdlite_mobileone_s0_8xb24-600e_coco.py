# SSDLite with a MobileOne-S0 backbone on COCO: the S4 config with the arch swapped.
_base_ = './ssdlite_mobileone_s4_8xb24-600e_coco.py'

model = dict(
    backbone=dict(arch='s0', init_cfg=dict(checkpoint={{_base_.imagenet_checkpoints.s0}})),
    neck=dict(in_channels=(256, 1024), out_channels=(256, 1024, 512, 256, 256, 128)),
    bbox_head=dict(in_channels=(256, 1024, 512, 256, 256, 128)))
