# The shipped DeepLabV3 MobileOne-S1 (output stride 8) VOC12aug config on the embedded
# demo data (data/demo/VOCdevkit, written by `python tools/make_demo_data.py`): its
# 128x128 images of 3 shape classes (VOC labels 1-3) at half size, 64x64 crops, on CPU.
# Only data, classes, image size, head width and schedule differ, and the backbone
# trains from scratch (its own initialisation instead of the ImageNet checkpoint, which
# needs a network). The heads are 4x narrower (ASPP 128 channels, FCN 64): at 512 the
# ASPP and bottleneck 3x3 convs took 60 % of an iteration (0.84 s), so only 300
# iterations fitted the time budget, and after 300 the deep stage-4 features (whose
# receptive field covers the whole 64x64 crop) had learnt one class only barely (IoU
# 1-4 % on each of seeds 0-2, mIoU 30-36). Narrow heads run 900 iterations in a little
# more time (600 left a class at IoU 0 on seed 2). Starting an S0 version from the demo
# classifier (or a linear head on its features) learnt no faster.
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
    decode_head=dict(channels=128, num_classes=4),
    auxiliary_head=dict(channels=64, num_classes=4))

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
# Images load in the training process (num_workers=0): they are small, and a loader process costs seconds to
# start and stop in every runner (the quantized deploy of the demo detector took 28 s instead of 39 s with one).
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(datasets=[
        dict(type='PascalVOCDataset', data_root=data_root, metainfo=metainfo,
             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
             ann_file='ImageSets/Segmentation/train.txt', pipeline=train_pipeline),
        dict(type='PascalVOCDataset', data_root=data_root, metainfo=metainfo,
             data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
             ann_file='ImageSets/Segmentation/aug.txt', pipeline=train_pipeline),
    ]))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 900
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=300, max_keep_ckpts=2))
# BN statistics of the final weights (running averages lag): mobileone_mm/engine/hooks/precise_bn_hook.py.
custom_hooks = [dict(type='mobileone_mm.PreciseBNHook', num_batches=25, interval=max_iters)]
# Seeded, so that a machine repeats its own run; the README states the spread over machines.
randomness = dict(seed=0)
