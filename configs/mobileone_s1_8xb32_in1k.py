# MobileOne-S1 on ImageNet-1k: the S0 recipe (basic augmentation, no progressive resizing).
_base_ = './mobileone_s0_8xb32_in1k.py'

model = dict(backbone=dict(arch='s1'), head=dict(in_channels=1280))
