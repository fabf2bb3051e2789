# MobileOne-S0 on ImageNet-1k, the paper's recipe for the small variants: SGD with
# cosine LR (5 warm-up epochs, 300 in all), weight decay annealed by a cosine from
# 1e-4 to 1e-5, label smoothing 0.1, EMA with decay 0.9995, basic augmentation
# (random resized crop + flip). 8 GPUs x 32 images.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_coslr_coswd_300e.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='mobileone_mm.MobileOne', arch='s0', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=1024,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))

optim_wrapper = dict(paramwise_cfg=dict(norm_decay_mult=0.))
val_dataloader = dict(batch_size=256)
test_dataloader = dict(batch_size=256)
# EMA decay 0.9995, i.e. momentum 5e-4; buffers (BN statistics) are averaged too.
custom_hooks = [dict(type='EMAHook', momentum=5e-4, priority='ABOVE_NORMAL', update_buffers=True)]
