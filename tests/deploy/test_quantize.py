"""INT8 deployment: static quantization calibrated on the config's training images, and its metric beside fp32's."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from mmengine.config import Config
from task_checkpoints import CALIBRATION_IMAGES, DEMO, deploy_demo_task, initialised_checkpoint

from mobileone_mm.deploy.quantize import (
    CalibrationError,
    calibration_images,
    calibration_inputs,
    int8_path,
    quantization_settings,
)
from mobileone_mm.deploy.task_models import build_model, load_model_config

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIGS = sorted(str(path) for path in (ROOT / 'configs/demo').glob('*.py'))
TASK_OF_SCOPE = {'mmpretrain': 'classification', 'mmdet': 'detection', 'mmseg': 'segmentation'}


def int8_config(task: str) -> str:
    return str(ROOT / f'configs/deploy/{task}_onnxruntime-int8_dynamic.py')


@pytest.fixture(scope='session', params=[pytest.param(task, marks=pytest.mark.xdist_group(f'int8-{task}'))
                                          for task in DEMO])
def int8_deploy(request, demo_dir, run_tool) -> SimpleNamespace:
    """``tools/deploy.py`` with the task's INT8 deploy config and ``--dump-info`` on its demo config, once per run.

    The checkpoint has random weights (:func:`initialised_checkpoint`); what the tool printed is kept. The
    tests of one task run on one pytest-xdist worker (``--dist loadgroup``), which runs the tool once.
    """
    return deploy_demo_task(request.param, int8_config(request.param), demo_dir, run_tool, '--dump-info')


@pytest.mark.slow
def test_int8_deploy_writes_a_quantized_model_and_prints_its_metric_beside_fp32_and_the_sdks(int8_deploy):
    metric, work_dir = DEMO[int8_deploy.task][1], int8_deploy.work_dir
    assert (f'quantized {work_dir}/end2end_int8.onnx (calibrated on {CALIBRATION_IMAGES} images of the train split)'
            in int8_deploy.printed)
    table = [line for line in int8_deploy.printed.splitlines() if line.startswith('| ')]
    assert table[0].startswith(f'| model | {metric} |')
    assert [line.split(' | ')[0] for line in table[1:]] == ['| PyTorch fp32', '| ONNX Runtime fp32',
                                                             '| ONNX Runtime INT8', '| mmdeploy SDK fp32']
    operators = {node.op_type for node in onnx.load(str(work_dir / 'end2end_int8.onnx')).graph.node}
    assert {'QuantizeLinear', 'DequantizeLinear'} <= operators
    assert not list(work_dir.glob('*.partial.onnx')) and not list(work_dir.glob('*.prepared.onnx'))


@pytest.mark.slow
@pytest.mark.xdist_group('int8-classification')  # on the pytest-xdist worker that built the export
@pytest.mark.parametrize('int8_deploy', ['classification'], indirect=True)
def test_int8_classifier_follows_the_fp32_one_on_its_calibration_images(int8_deploy, demo_dir, monkeypatch):
    monkeypatch.chdir(demo_dir)
    deploy_cfg, model_cfg = Config.fromfile(int8_config('classification')), load_model_config(int8_deploy.config)
    images = calibration_images(deploy_cfg, model_cfg, 'train', CALIBRATION_IMAGES)
    inputs = calibration_inputs(deploy_cfg, model_cfg, build_model(model_cfg), images)
    assert len(inputs) == CALIBRATION_IMAGES
    fp32, int8 = (ort.InferenceSession(str(int8_deploy.work_dir / name), providers=['CPUExecutionProvider'])
                  for name in ('end2end.onnx', 'end2end_int8.onnx'))
    expected, actual = (np.concatenate([session.run(None, {'input': array})[0] for array in inputs])
                        for session in (fp32, int8))
    cosine = (expected * actual).sum(1) / np.linalg.norm(expected, axis=1) / np.linalg.norm(actual, axis=1)
    # Random weights, 3 logits: measured 0.983-0.99997 over the six training images, mean 0.994.
    assert cosine.mean() > 0.99 and cosine.min() > 0.98


@pytest.mark.parametrize('backend_config, message', [
    (dict(precision='fp16'), r"backend_config.precision 'fp16' is not one of \['fp32', 'int8'\]"),
    (dict(precision='int8', quantization=dict(num_images=0)), 'calibration images must be an int >= 1, not 0'),
    (dict(precision='int8', quantization=dict(method='kl')), "quantization method 'kl' is not one of"),
    (dict(precision='int8', quantization=dict(calibration_split='test')),
     r"quantization calibration_split 'test' is not one of \['train', 'val'\]"),
])
def test_quantization_settings_refuse_bad_values(backend_config, message):
    with pytest.raises(ValueError, match=message):
        quantization_settings(Config(dict(backend_config=dict(type='onnxruntime', **backend_config))))


def test_quantization_settings_are_none_for_fp32_and_the_defaults_fill_in():
    assert quantization_settings(Config(dict(backend_config=dict(type='onnxruntime')))) is None
    settings = quantization_settings(Config.fromfile(int8_config('detection')))
    assert settings == dict(num_images=64, per_channel=True, method='minmax', calibration_split='train')
    assert int8_path('work/end2end.onnx') == 'work/end2end_int8.onnx'


def test_calibration_refuses_an_empty_dataset_or_none(demo_dir, monkeypatch):
    monkeypatch.chdir(demo_dir)
    empty = demo_dir / 'empty.json'
    empty.write_text(json.dumps(dict(images=[], annotations=[], categories=[dict(id=1, name='circle')])))
    deploy_cfg = Config.fromfile(int8_config('detection'))
    model_cfg = load_model_config(str(ROOT / DEMO['detection'][0]), {'train_dataloader.dataset.ann_file': str(empty)})
    with pytest.raises(CalibrationError, match=r'^the train dataset of the model config \(CocoDataset\) is empty$'):
        calibration_images(deploy_cfg, model_cfg, 'train', 4)
    model_cfg.val_dataloader = None
    with pytest.raises(CalibrationError, match='^the model config has no val_dataloader to calibrate with$'):
        calibration_images(deploy_cfg, model_cfg, 'val', 4)


@pytest.mark.parametrize('config', DEMO_CONFIGS, ids=lambda path: Path(path).stem)
def test_calibration_images_are_spread_over_the_training_set_and_never_evaluated(config, demo_dir, monkeypatch):
    monkeypatch.chdir(demo_dir)
    model_cfg = load_model_config(config)
    deploy_cfg = Config.fromfile(int8_config(TASK_OF_SCOPE[model_cfg.default_scope]))
    calibration = calibration_images(deploy_cfg, model_cfg, 'train', CALIBRATION_IMAGES)
    training = calibration_images(deploy_cfg, model_cfg, 'train', 10**6)
    model_cfg.val_dataloader = model_cfg.test_dataloader
    evaluated = calibration_images(deploy_cfg, model_cfg, 'val', 10**6)
    assert len(set(calibration)) == CALIBRATION_IMAGES and set(calibration) < set(training)
    assert training.index(calibration[-1]) >= 0.8 * len(training)  # spread to the end, not the first six
    assert not set(training) & set(evaluated)
    if model_cfg.default_scope == 'mmpretrain':
        assert {Path(image).parent.name for image in calibration} == {'circle', 'square', 'triangle'}


def test_tool_refuses_a_calibration_count_below_one_before_exporting(demo_dir, monkeypatch, run_tool):
    monkeypatch.chdir(demo_dir)
    config = str(ROOT / DEMO['classification'][0])
    work_dir, image = demo_dir / 'int8_refused', f'data/demo/{DEMO["classification"][2]}'
    checkpoint = initialised_checkpoint(config, demo_dir / 'int8_refused.pth', image)
    with pytest.raises(SystemExit, match='^error: the number of calibration images must be an int >= 1, not 0'):
        run_tool('deploy', int8_config('classification'), config, checkpoint, image, '--work-dir', str(work_dir),
                 '--calib-images', '0')
    assert not work_dir.exists()
