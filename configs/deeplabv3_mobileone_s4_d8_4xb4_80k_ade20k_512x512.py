# DeepLabV3 with a MobileOne-S4 backbone at output stride 8 on ADE20K: mmseg's
# DeepLabV3 R-50-D8 recipe (4 GPUs x 4 crops of 512x512, 80k iterations, SyncBN)
# with the backbone swapped, as in the VOC config beside this one.
_base_ = ['mmseg::deeplabv3/deeplabv3_r50-d8_4xb4-80k_ade20k-512x512.py', './_base_/mobileone_imagenet_checkpoints.py']
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)

model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='MobileOne',
        arch='s4',
        out_indices=(0, 1, 2, 3),
        strides=(2, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        init_cfg=dict(type='Pretrained', checkpoint={{_base_.imagenet_checkpoints.s4}}, prefix='backbone.')),
    decode_head=dict(in_channels=2048),
    auxiliary_head=dict(in_channels=896))
