# The shipped SSDLite MobileOne-S0 config on the embedded demo data (data/demo/coco, written by
# `python tools/make_demo_data.py`): 128x128 images of 3 shape classes, trained on CPU. Only data, image size and
# schedule differ: the images keep their size, so the SSD levels (strides 16 .. 128) and their anchors are the
# recipe's scaled from 320 to 128 pixels; the recipe's expand-and-crop augmentation, made for 120 epochs, is left
# out of these 12. As in the RetinaNet demo, the backbone starts from the classifier trained on the demo's
# ImageNet-style data (`configs/demo/mobileone_s0_demo.py`, which `tools/demo.py` trains first).
_base_ = '../ssdlite_mobileone_s0_8xb24-600e_coco.py'

classifier_checkpoint = 'work_dirs/demo/classifier/epoch_10.pth'

data_root = 'data/demo/coco/'
metainfo = dict(classes=('circle', 'square', 'triangle'))
input_size = 128

model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=classifier_checkpoint, prefix='backbone.')),
    bbox_head=dict(
        num_classes=3,
        # mmdet's SSDLite anchors at 320 px (min sizes 48 .. 304, max sizes 100 .. 320) times 128 / 320; the levels'
        # maps are 8, 4, 2, 1, 1, 1 cells wide.
        anchor_generator=dict(
            strides=[16, 32, 64, 128, 128, 128],
            min_sizes=[19, 40, 60, 81, 101, 122],
            max_sizes=[40, 60, 81, 101, 122, 128])))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# Images load in the training process (num_workers=0): they are small, and a loader process costs seconds to
# start and stop in every runner (the quantized deploy of the demo detector took 28 s instead of 39 s with one).
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(times=1, dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator

max_epochs = 12
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True, eta_min=0),
]
# The recipe's hooks, and BN statistics of the weights the checkpoint holds (mobileone_mm/engine/hooks/).
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='mobileone_mm.PreciseBNHook', num_batches=25, interval=max_epochs),
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=1, max_keep_ckpts=2))
# Seeded, so that a machine repeats its own run; the README states the spread over machines.
randomness = dict(seed=0)
