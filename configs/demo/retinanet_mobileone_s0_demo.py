# The shipped RetinaNet MobileOne-S0 config on the embedded demo data (data/demo/coco,
# written by `python tools/make_demo_data.py`): 128x128 images of 3 shape classes,
# trained on CPU. Only data, image size and schedule differ, and the backbone starts,
# as the shipped config starts from ImageNet, from the classifier trained on the demo's
# ImageNet-style data (`configs/demo/mobileone_s0_demo.py`, which `make demo` trains
# first), with no frozen stages or frozen BN statistics: that classifier saw 64x64
# crops, and its statistics do not fit these images. From scratch (Kaiming init), 6
# epochs reached an mAP of only 0.018 here.
_base_ = '../retinanet_mobileone_s0_coco.py'

classifier_checkpoint = 'work_dirs/demo/classifier/epoch_10.pth'

data_root = 'data/demo/coco/'
metainfo = dict(classes=('circle', 'square', 'triangle'))
image_size = (128, 128)

model = dict(
    backbone=dict(
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(type='Pretrained', checkpoint=classifier_checkpoint, prefix='backbone.')),
    bbox_head=dict(num_classes=3))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# Images load in the training process (num_workers=0): they are small, and a loader process costs seconds to
# start and stop in every runner (the quantized deploy of the demo detector took 28 s instead of 39 s with one).
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

# Schedule: 8 epochs; mmdet's lr 0.01 is for 16 images, this batch has 8; gradient clipping keeps the
# focal loss from collapsing back to "all background". PreciseBNHook recomputes the BN statistics of the weights
# the checkpoint holds: their running averages lag behind a fast-changing network
# (mobileone_mm/engine/hooks/precise_bn_hook.py).
max_epochs = 8
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=0.005), clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[7], gamma=0.1),
]
custom_hooks = [dict(type='mobileone_mm.PreciseBNHook', num_batches=25, interval=max_epochs)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=1, max_keep_ckpts=2))
# Seeded, so that a machine repeats its own run; the README states the spread over machines.
randomness = dict(seed=0)
