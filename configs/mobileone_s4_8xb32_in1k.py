# MobileOne-S4 on ImageNet-1k, the paper's recipe for the large variants: the S0
# schedule plus progressive training. Input size and RandAugment magnitude grow
# together: 160 px at 0.3x magnitude, 192 px at 0.7x from epoch 37, 224 px at 1.0x
# from epoch 112 (magnitude 7 of 10).
_base_ = './mobileone_s0_8xb32_in1k.py'

model = dict(backbone=dict(arch='s4'), head=dict(in_channels=2048))

# RandAugment fills with the BGR mean of ImageNet, rounded.
rand_augment = dict(
    type='RandAugment',
    policies='timm_increasing',
    num_policies=2,
    total_level=10,
    magnitude_std=0.5,
    hparams=dict(pad_val=[104, 116, 124]))
train_pipeline_from_epoch_0 = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=160, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(**rand_augment, magnitude_level=7 * 0.3),
    dict(type='PackInputs'),
]
train_pipeline_from_epoch_37 = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=192, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(**rand_augment, magnitude_level=7 * 0.7),
    dict(type='PackInputs'),
]
train_pipeline_from_epoch_112 = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(**rand_augment, magnitude_level=7 * 1.0),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline_from_epoch_0))
custom_hooks = [
    dict(
        type='SwitchRecipeHook',
        schedule=[
            dict(action_epoch=37, pipeline=train_pipeline_from_epoch_37),
            dict(action_epoch=112, pipeline=train_pipeline_from_epoch_112),
        ]),
    dict(type='EMAHook', momentum=5e-4, priority='ABOVE_NORMAL', update_buffers=True),
]
