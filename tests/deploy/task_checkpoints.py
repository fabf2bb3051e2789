"""Task checkpoints for the deployment tests: each task's real config with random, realistically calibrated weights.

Each task gets a checkpoint of its real config (s0, s1 for segmentation) with
random weights. Their batch norms get random affine parameters and running
statistics measured on demo images, as training leaves them: per channel
means and variances that are neither 0 nor 1, so a wrong fusion cannot hide,
and activations of trained magnitude. ``testing.weights.make_realistic_``'s
statistics, drawn independently of the activations, let those grow to 1e5
through depth and saturate the heads (one-hot softmax, every RetinaNet score
1.0), which leaves the ONNX comparisons nothing to compare.
"""
import contextlib
import copy
import io
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

import mmcv
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from PIL import Image
from torch.nn.modules.batchnorm import _BatchNorm

from mobileone_mm.deploy.task_models import build_model, example_inputs, load_model_config
from mobileone_mm.testing.demo_data import make_scene

ROOT = Path(__file__).resolve().parents[2]
IMAGE_SIZE = 128
TASKS = {
    'classification': dict(config='configs/mobileone_s0_8xb32_in1k.py', static='classification_onnxruntime_static.py',
                           dynamic='classification_onnxruntime_dynamic.py'),
    'detection': dict(config='configs/retinanet_mobileone_s0_coco.py', static='detection_onnxruntime_static.py',
                      dynamic='detection_onnxruntime_dynamic.py'),
    'ssdlite': dict(config='configs/ssdlite_mobileone_s0_8xb24-600e_coco.py', static='detection_onnxruntime_static.py',
                    dynamic='detection_onnxruntime_dynamic.py'),
    'segmentation': dict(config='configs/deeplabv3_mobileone_s1_d8_4xb4_20k_voc12aug_512x512.py',
                         static='segmentation_onnxruntime_static-512x512.py',
                         dynamic='segmentation_onnxruntime_dynamic.py'),
}
FLOAT64_TOLERANCE = 1e-10  # fused vs training form in float64 measured 1e-14 here; a wrong fusion is off by 1e-2
# MobileOne's own initialisation (its default init_cfg), instead of the configs' ImageNet checkpoint.
BACKBONE_INIT = [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm'])]
CANDIDATES = 30  # about as many (anchor, class) pairs pass the score threshold on the test image
# The demo configs (the INT8 tests run them on the suite's demo data), their main metric and a test image.
DEMO = {'classification': ('configs/demo/mobileone_s0_demo.py', 'accuracy/top1', 'imagenet/val/circle/val_00000.png'),
        'detection': ('configs/demo/retinanet_mobileone_s0_demo.py', 'coco/bbox_mAP', 'coco/val2017/000000.jpg'),
        'segmentation': ('configs/demo/deeplabv3_mobileone_s1_d8_voc12aug_demo.py', 'mIoU',
                         'VOCdevkit/VOC2012/JPEGImages/demo_aug_00000.jpg')}
# Of the training split, which holds more in the suite's demo data (30 classification, 40 detection and 24 segmentation
# images; tests/conftest.py).
CALIBRATION_IMAGES = 6


def small_config(task: str, config: Optional[str] = None, image_size: int = IMAGE_SIZE) -> Config:
    """The task's real config (or another ``config`` of the task), its test pipeline resized to the small image."""
    cfg = load_model_config(str(ROOT / (config or TASKS[task]['config'])))
    for transform in cfg.test_pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = (image_size, image_size)
    return cfg


@torch.no_grad()
def calibrate_batch_norm_(model: nn.Module, inputs: torch.Tensor, seed: int = 0) -> None:
    """Random BN affine parameters, then running statistics measured on ``inputs``."""
    generator = torch.Generator().manual_seed(seed)
    norms = [module for module in model.modules() if isinstance(module, _BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the forward pass
        norm.weight.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
        norm.bias.copy_(torch.randn(norm.num_features, generator=generator) * 0.2)
        norm.train()
    model(inputs, mode='tensor')
    for norm in norms:
        norm.momentum = 0.1
    model.eval()


def widest_gap_midpoint(values: torch.Tensor) -> float:
    """The middle of the widest gap between the values ranked ``CANDIDATES / 2`` .. ``2 * CANDIDATES`` (descending).

    A threshold there lets a few dozen values pass, none of them close to it.
    """
    top = values.flatten().topk(2 * CANDIDATES).values
    first = CANDIDATES // 2 - 1
    rank = first + int((top[first:-1] - top[first + 1:]).argmax())
    return float(top[rank] + top[rank + 1]) / 2


def image_inputs(model: nn.Module, image: str) -> torch.Tensor:
    return model.data_preprocessor(dict(inputs=[torch.from_numpy(mmcv.imread(image)).permute(2, 0, 1)]),
                                   False)['inputs']


@torch.no_grad()
def aim_retinanet_detections_(model: nn.Module, image: str, seed: int = 0) -> None:
    """Spreads RetinaNet's class logits and shifts them so that a few dozen pairs pass the score threshold on ``image``.

    Its prior bias keeps every score of a random model below the threshold,
    which goes into :func:`widest_gap_midpoint` of the logits.
    """
    classifier = model.bbox_head.retina_cls
    classifier.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(seed))
    logits = torch.cat([level.flatten() for level in model(image_inputs(model, image), mode='tensor')[0]])
    threshold = model.bbox_head.test_cfg.score_thr
    classifier.bias.add_(math.log(threshold / (1 - threshold)) - widest_gap_midpoint(logits))


@torch.no_grad()
def aim_ssd_detections_(model: nn.Module, image: str, seed: int = 0) -> None:
    """Spreads SSD's class logits and shifts its background logit so that a few dozen pairs pass the threshold.

    SSD scores are a softmax over the classes and the background (the last
    channel of each anchor); its initialisation leaves every logit near 0, so
    every score near ``1 / (C + 1)``. With the background logit raised by
    ``b``, the score of class ``c`` reaches the threshold ``t`` at
    ``b_c = log(exp(l_c) / t - sum_k exp(l_k)) - l_bg`` (``k`` over the
    classes); ``b`` goes into :func:`widest_gap_midpoint` of the ``b_c``.
    """
    head = model.bbox_head
    num_classes, threshold = head.num_classes, head.test_cfg.score_thr
    generator = torch.Generator().manual_seed(seed)
    for level in head.cls_convs:
        level[-1].weight.copy_(torch.randn(level[-1].weight.shape, generator=generator) * 0.3)
    levels = model(image_inputs(model, image), mode='tensor')[0]
    logits = torch.cat([level.permute(0, 2, 3, 1).reshape(-1, num_classes + 1) for level in levels]).double()
    classes, background = logits[:, :num_classes], logits[:, num_classes:]
    reach = torch.exp(classes) / threshold - torch.exp(classes).sum(-1, keepdim=True)
    crossing = torch.where(reach > 0, reach.clamp_min(1e-300).log() - background, torch.full_like(reach, -math.inf))
    raise_by = widest_gap_midpoint(crossing)
    for level in head.cls_convs:
        level[-1].bias.view(-1, num_classes + 1)[:, num_classes] += raise_by


def with_opencv_resizing(cfg: Config) -> Config:
    """The config, resizing with OpenCV where it resizes with Pillow, as the SDK always does.

    mmpretrain's ImageNet pipeline resizes with Pillow, which the SDK cannot:
    the pixels differ, and the near-uniform scores of a random classifier
    change their top-1 with them.
    """
    cfg = copy.deepcopy(cfg)
    for transform in cfg.test_pipeline:
        if transform.get('backend') == 'pillow':
            transform['backend'] = 'cv2'
    return cfg


def task_checkpoint(task: str, cfg: Config, directory: Path, image_size: int = IMAGE_SIZE) -> SimpleNamespace:
    """A random, realistically calibrated checkpoint of ``cfg`` and a test image, in ``directory``.

    Detectors get their scores aimed so that a few dozen detections pass
    the threshold on the image (:func:`aim_retinanet_detections_`,
    :func:`aim_ssd_detections_`).
    """
    image = str(directory / 'image.jpg')
    Image.fromarray(make_scene(np.random.default_rng(0), image_size, num_objects=3).image).save(image, quality=95)
    initialised = copy.deepcopy(cfg)
    initialised.model.backbone.init_cfg = BACKBONE_INIT
    model = build_model(initialised)
    torch.manual_seed(0)
    model.init_weights()
    calibrate_batch_norm_(model, example_inputs(model, image_size, num_images=16, seed=1))
    if task == 'detection':
        aim_retinanet_detections_(model, image)
    if task == 'ssdlite':
        aim_ssd_detections_(model, image)
    checkpoint = str(directory / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return SimpleNamespace(task=task, cfg=cfg, checkpoint=checkpoint, image=image, directory=directory)


def initialised_checkpoint(config: str, path: Path, image: str) -> str:
    """The config's model with random weights, its BN statistics measured on demo scenes, a few boxes on ``image``."""
    cfg = load_model_config(config)
    cfg.model.backbone.init_cfg = BACKBONE_INIT  # load_model_config drops it; unseeded default init otherwise
    model = build_model(cfg)
    torch.manual_seed(0)
    model.init_weights()
    calibrate_batch_norm_(model, example_inputs(model, 128, num_images=8, seed=1))
    if 'retinanet' in config:
        aim_retinanet_detections_(model, image)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def deploy_demo_task(task: str, deploy_config: str, demo_dir: Path, run_tool: Callable,
                     *options: str) -> SimpleNamespace:
    """``tools/deploy.py`` with ``deploy_config`` on the task's demo config and a random checkpoint of it.

    Runs in ``demo_dir`` (the demo configs read ``data/demo/...``) with :data:`CALIBRATION_IMAGES` calibration
    images into ``demo_dir/<task>_<config name>``; what the tool printed is kept (and printed again for the log).
    """
    config, image = str(ROOT / DEMO[task][0]), f'data/demo/{DEMO[task][2]}'
    work_dir = demo_dir / f'{task}_{Path(deploy_config).stem}'
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as printed:
        patch.chdir(demo_dir)
        checkpoint = initialised_checkpoint(config, demo_dir / f'{task}.pth', image)
        run_tool('deploy', deploy_config, config, checkpoint, image, '--work-dir', str(work_dir),
                 '--calib-images', str(CALIBRATION_IMAGES), *options)
    print(printed.getvalue())
    return SimpleNamespace(task=task, config=config, work_dir=work_dir, printed=printed.getvalue())
