# The shipped DeepLabV3 MobileOne-S1 (output stride 8) VOC12aug config on the embedded
# demo data (data/demo/VOCdevkit, written by `python tools/make_demo_data.py`): its
# 128x128 images of 3 shape classes (VOC labels 1-3) at half size, 64x64 crops, on CPU.
# Only data, classes, image size and schedule differ, and the backbone trains from
# scratch (its own initialisation instead of the ImageNet checkpoint, which needs a
# network). Starting an S0 version from the demo classifier was tried: it predicted
# background everywhere after 300 iterations (mIoU 20.3).
_base_ = '../deeplabv3_mobileone_s1_d8_4xb4_20k_voc12aug_512x512.py'

data_root = 'data/demo/VOCdevkit/VOC2012'
crop_size = (64, 64)
# The demo's circles, squares and triangles are written as VOC's labels 1-3; only these (and the background) are
# evaluated, so that the table lists the demo's classes, not 17 rows of nan.
metainfo = dict(classes=('background', 'aeroplane', 'bicycle', 'bird'))

model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=[dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm'])]),
    decode_head=dict(num_classes=4),
    auxiliary_head=dict(num_classes=4))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 64), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=1,
    dataset=dict(datasets=[
        dict(type='PascalVOCDataset', data_root=data_root, metainfo=metainfo,
             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline),
        dict(type='PascalVOCDataset', data_root=data_root, metainfo=metainfo,
             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
             ann_file='ImageSets/Segmentation/aug.txt', pipeline=train_pipeline),
    ]))
val_dataloader = dict(batch_size=1, num_workers=1,
                      dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 300
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=100, max_keep_ckpts=2))
# BN statistics of the final weights (running averages lag): mobileone_mm/engine/hooks/precise_bn_hook.py.
custom_hooks = [dict(type='mobileone_mm.PreciseBNHook', num_batches=25, interval=max_iters)]
# Seeded, so that a machine repeats its own run; the README states the spread over machines.
randomness = dict(seed=0)
