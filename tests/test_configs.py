"""Every shipped config builds its framework's model around this MobileOne and computes a loss."""
import re
from pathlib import Path

import pytest
import torch
from framework_models import build_model, num_classes_of, pad_to_tiny_batch_, tiny_batch, total_loss
from mmengine.config import Config

from mobileone_mm import MobileOne, arch_channels

CONFIG_DIR = Path(__file__).parents[1] / 'configs'
TASK_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob('*.py'))
DEMO_CONFIGS = sorted(f'demo/{p.name}' for p in (CONFIG_DIR / 'demo').glob('*.py'))
SCOPE_OF_PREFIX = {'mobileone_s': 'mmpretrain', 'retinanet_': 'mmdet', 'ssdlite_': 'mmdet', 'deeplabv3_': 'mmseg'}


def load(name: str) -> Config:
    return Config.fromfile(CONFIG_DIR / name)


def quick_unless_larger_arch(name: str):
    """``name`` as a test parameter, marked slow for S1..S4: the quick tier builds each family's S0 config."""
    larger = re.search(r'mobileone_s[1-4]_', name) and not name.startswith('demo/')
    return pytest.param(name, marks=pytest.mark.slow) if larger else name


@pytest.mark.parametrize('name', [quick_unless_larger_arch(name) for name in TASK_CONFIGS + DEMO_CONFIGS])
def test_config_builds_this_mobileone_and_computes_a_loss(name):
    cfg = load(name)
    assert cfg.custom_imports == dict(imports=['mobileone_mm'], allow_failed_imports=False)
    expected_scope = next(s for prefix, s in SCOPE_OF_PREFIX.items() if Path(name).name.startswith(prefix))
    assert cfg.default_scope == expected_scope  # inherited from the framework, never set here
    assert 'import ' not in (CONFIG_DIR / name).read_text()
    model = build_model(pad_to_tiny_batch_(cfg))
    assert type(model.backbone) is MobileOne
    model.train()
    batch = model.data_preprocessor(tiny_batch(cfg.default_scope, num_classes_of(cfg)), True)
    losses = model(**batch, mode='loss')
    total = total_loss(losses)
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.backbone.stage4[-1].branch_conv_list[0].conv.weight.grad is not None


@pytest.mark.parametrize('name', [n for n in TASK_CONFIGS if n.startswith('retinanet_')])
def test_retinanet_fpn_reads_stages_2_to_4_of_the_arch(name):
    cfg = load(name)
    assert cfg.model.backbone.out_indices == (1, 2, 3)
    assert cfg.model.neck.in_channels == list(arch_channels(cfg.model.backbone.arch)[1:])
    assert cfg.model.neck.start_level == 0


@pytest.mark.parametrize('name', [n for n in TASK_CONFIGS if n.startswith('ssdlite_')])
def test_ssdlite_is_mmdets_recipe_with_stages_3_and_4_feeding_the_ssd_neck(name):
    cfg = load(name)
    arch = cfg.model.backbone.arch
    assert name == f'ssdlite_mobileone_{arch}_8xb24-600e_coco.py'
    assert cfg.model.backbone.out_indices == (2, 3)
    channels = tuple(arch_channels(arch)[2:])
    assert tuple(cfg.model.neck.in_channels) == channels
    assert tuple(cfg.model.neck.out_channels) == channels + (512, 256, 256, 128)  # the four extra levels
    assert cfg.model.bbox_head.in_channels == cfg.model.neck.out_channels
    assert cfg.model.neck.use_depthwise and cfg.model.bbox_head.use_depthwise
    assert [t.scale for t in cfg.test_pipeline if t.type == 'Resize'] == [(320, 320)]
    epochs = cfg.train_cfg.max_epochs * cfg.train_dataloader.dataset.times
    assert (epochs, cfg.train_dataloader.batch_size) == (600, 24)


@pytest.mark.parametrize('arch', ['s0', 's1', 's2', 's3', 's4'])
@pytest.mark.parametrize('dataset', ['20k_voc12aug', '80k_ade20k'])
def test_deeplabv3_has_a_config_for_every_arch_and_dataset(arch, dataset):
    assert load(f'deeplabv3_mobileone_{arch}_d8_4xb4_{dataset}_512x512.py').model.backbone.arch == arch


@pytest.mark.parametrize('name', [n for n in TASK_CONFIGS if n.startswith('deeplabv3_')])
def test_deeplabv3_is_output_stride_8_with_heads_on_the_arch_channels(name):
    cfg = load(name)
    backbone = cfg.model.backbone
    assert (backbone.strides, backbone.dilations) == ((2, 2, 1, 1), (1, 1, 2, 4))
    channels = arch_channels(backbone.arch)
    assert cfg.model.decode_head.in_channels == channels[cfg.model.decode_head.in_index]
    assert cfg.model.auxiliary_head.in_channels == channels[cfg.model.auxiliary_head.in_index]


@pytest.mark.parametrize('name', [n for n in TASK_CONFIGS if n.startswith('mobileone_s')])
def test_imagenet_configs_follow_the_paper_recipe(name):
    cfg = load(name)
    arch = cfg.model.backbone.arch
    assert name == f'mobileone_{arch}_8xb32_in1k.py'
    assert cfg.model.head.in_channels == arch_channels(arch)[-1]
    assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    assert cfg.optim_wrapper.optimizer.type == 'SGD'
    schedulers = {s.type: s for s in cfg.param_scheduler}
    assert 'CosineAnnealingLR' in schedulers
    weight_decay = schedulers['CosineAnnealingParamScheduler']
    assert (cfg.optim_wrapper.optimizer.weight_decay, weight_decay.eta_min) == (1e-4, 1e-5)
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert hooks['EMAHook'].momentum == pytest.approx(1 - 0.9995)
    if arch in ('s0', 's1'):
        assert 'SwitchRecipeHook' not in hooks
        assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
            'LoadImageFromFile', 'RandomResizedCrop', 'RandomFlip', 'PackInputs']
    else:  # progressive: size and augmentation strength grow together
        stages = [cfg.train_dataloader.dataset.pipeline] + [s.pipeline for s in hooks['SwitchRecipeHook'].schedule]
        sizes = [next(t.scale for t in p if t.type == 'RandomResizedCrop') for p in stages]
        magnitudes = [next(t.magnitude_level for t in p if t.type == 'RandAugment') for p in stages]
        assert sizes == [160, 192, 224]
        assert magnitudes == sorted(magnitudes) and len(set(magnitudes)) == 3


@pytest.mark.parametrize('name', [n for n in TASK_CONFIGS if not n.startswith('mobileone_s')])
def test_task_configs_start_from_the_imagenet_checkpoint_of_their_arch(name):
    cfg = load(name)
    checkpoints = Config.fromfile(CONFIG_DIR / '_base_/mobileone_imagenet_checkpoints.py').imagenet_checkpoints
    arch = cfg.model.backbone.arch
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=checkpoints[arch], prefix='backbone.')
    assert f'mobileone-{arch}_8xb32_in1k' in checkpoints[arch]
    assert 'https://' not in (CONFIG_DIR / name).read_text()  # the URLs live in the one _base_ file
