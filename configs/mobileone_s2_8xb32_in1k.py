# MobileOne-S2 on ImageNet-1k: the S4 recipe (progressive training).
_base_ = './mobileone_s4_8xb32_in1k.py'

model = dict(backbone=dict(arch='s2'), head=dict(in_channels=2048))
