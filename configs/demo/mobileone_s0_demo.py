# The shipped MobileOne-S0 ImageNet config on the embedded demo data
# (data/demo/imagenet, written by `python tools/make_demo_data.py`): 64x64 images of
# 3 shape classes, on CPU. Only data, image size and schedule differ (the EMA's
# momentum is part of the schedule: 5e-4 averages over ~2000 iterations, this
# schedule has 100).
_base_ = '../mobileone_s0_8xb32_in1k.py'

data_root = 'data/demo/imagenet'
metainfo = dict(classes=('circle', 'square', 'triangle'))
image_size = 64

data_preprocessor = dict(num_classes=3)
model = dict(head=dict(num_classes=3, topk=(1, )))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=image_size, crop_ratio_range=(0.5, 1.0), backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=image_size, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=image_size),
    dict(type='PackInputs'),
]
# Images load in the training process (num_workers=0): they are small, and a loader process costs seconds to
# start and stop in every runner (the quantized deploy of the demo detector took 28 s instead of 39 s with one).
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-4, by_epoch=True, begin=1, end=max_epochs),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min=1e-5, by_epoch=True, begin=0,
         end=max_epochs),
]
# A 100-iteration schedule leaves BN running statistics too noisy for eval mode (top-1 40-45 % with them, 93 % with
# statistics recomputed over the training set, on one run): PreciseBNHook recomputes them, for the EMA model too.
custom_hooks = [dict(type='EMAHook', momentum=0.05, priority='ABOVE_NORMAL', update_buffers=True),
                dict(type='mobileone_mm.PreciseBNHook', num_batches=10, interval=max_epochs)]
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, max_keep_ckpts=2))
# Seeded, so that a machine repeats its own run; the README states the spread over machines.
randomness = dict(seed=0)
