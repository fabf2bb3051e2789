"""Deployment: fused checkpoints (tools/reparameterize.py) and ONNX export checked in ONNX Runtime (tools/deploy.py).

Each task gets a checkpoint of its real config (s0, s1 for segmentation) with
random weights. Their batch norms get random affine parameters and running
statistics measured on demo images, as training leaves them: per channel
means and variances that are neither 0 nor 1, so a wrong fusion cannot hide,
and activations of trained magnitude. ``verify.make_realistic_``'s statistics,
drawn independently of the activations, let those grow to 1e5 through depth
and saturate the heads (one-hot softmax, every RetinaNet score 1.0), which
leaves the ONNX comparisons nothing to compare.
"""
import copy
import io
import math
import os
from pathlib import Path
from types import SimpleNamespace

import mmcv
import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.structures import InstanceData
from PIL import Image
from torch.nn.modules.batchnorm import _BatchNorm

from mobileone_mm.demo_data import make_scene
from mobileone_mm.deploy import DeployError, DeployResult, check_reparameterized, deploy
from mobileone_mm.fuse_checkpoint import ReparameterizationError, fuse_checkpoint
from mobileone_mm.onnx_compat import torchscript_onnx_export
from mobileone_mm.prediction_agreement import Agreement, detection_agreement
from mobileone_mm.task_model import (DEPLOY_KEY, CheckpointMismatchError, build_model, example_inputs,
                                     load_checkpoint_strictly, load_model_config)

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIZE = 128
TASKS = {
    'classification': dict(config='configs/mobileone_s0_8xb32_in1k.py', static='classification_onnxruntime_static.py',
                           dynamic='classification_onnxruntime_dynamic.py'),
    'detection': dict(config='configs/retinanet_mobileone_s0_coco.py', static='detection_onnxruntime_static.py',
                      dynamic='detection_onnxruntime_dynamic.py'),
    'segmentation': dict(config='configs/deeplabv3_mobileone_s1_d8_4xb4_20k_voc12aug_512x512.py',
                         static='segmentation_onnxruntime_static-512x512.py',
                         dynamic='segmentation_onnxruntime_dynamic.py'),
}
DEPLOY_CONFIGS = {
    'classification_onnxruntime_static.py': ('Classification', None, None),
    'classification_onnxruntime_dynamic.py': ('Classification', None, {'input': {0: 'batch', 2: 'height', 3: 'width'},
                                                                       'output': {0: 'batch'}}),
    'detection_onnxruntime_static.py': ('ObjectDetection', None, None),
    'detection_onnxruntime_dynamic.py': ('ObjectDetection', None, {'input': {0: 'batch', 2: 'height', 3: 'width'},
                                                                   'dets': {0: 'batch', 1: 'num_dets'},
                                                                   'labels': {0: 'batch', 1: 'num_dets'}}),
    'segmentation_onnxruntime_static-512x512.py': ('Segmentation', [512, 512], None),
    'segmentation_onnxruntime_dynamic.py': ('Segmentation', None, {'input': {0: 'batch', 2: 'height', 3: 'width'},
                                                                   'output': {0: 'batch', 2: 'height', 3: 'width'}}),
}
FLOAT64_TOLERANCE = 1e-10  # fused vs training form in float64 measured 1e-14 here; a wrong fusion is off by 1e-2
# MobileOne's own initialisation (its default init_cfg), instead of the configs' ImageNet checkpoint.
BACKBONE_INIT = [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm'])]
CANDIDATES = 30  # about as many (anchor, class) pairs pass the score threshold on the test image


def small_config(task: str) -> Config:
    """The task's real config, its test pipeline resized to the small test image."""
    cfg = load_model_config(str(ROOT / TASKS[task]['config']))
    for transform in cfg.test_pipeline:
        if transform['type'] == 'Resize':
            transform['scale'] = (IMAGE_SIZE, IMAGE_SIZE)
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


@torch.no_grad()
def aim_detections_(model: nn.Module, image: str, seed: int = 0) -> None:
    """Spreads RetinaNet's class logits and shifts them so that a few dozen pairs pass the score threshold on ``image``.

    Its prior bias keeps every score of a random model below the threshold.
    The threshold goes into the widest gap between the logits ranked
    ``CANDIDATES / 2`` .. ``2 * CANDIDATES``, so that no score lies close to it.
    """
    classifier = model.bbox_head.retina_cls
    classifier.weight.normal_(0, 0.3, generator=torch.Generator().manual_seed(seed))
    inputs = model.data_preprocessor(dict(inputs=[torch.from_numpy(mmcv.imread(image)).permute(2, 0, 1)]),
                                     False)['inputs']
    logits = torch.cat([level.flatten() for level in model(inputs, mode='tensor')[0]])
    top = logits.topk(2 * CANDIDATES).values
    first = CANDIDATES // 2 - 1
    rank = first + int((top[first:-1] - top[first + 1:]).argmax())
    threshold = model.bbox_head.test_cfg.score_thr
    classifier.bias.add_(math.log(threshold / (1 - threshold)) - (top[rank] + top[rank + 1]) / 2)


@pytest.fixture(scope='module', params=list(TASKS))
def trained(request, tmp_path_factory) -> SimpleNamespace:
    """A task's small config, a random checkpoint of it and a test image."""
    task = request.param
    directory = tmp_path_factory.mktemp(task)
    image = str(directory / 'image.jpg')
    Image.fromarray(make_scene(np.random.default_rng(0), IMAGE_SIZE, num_objects=3).image).save(image, quality=95)
    cfg = small_config(task)
    initialised = copy.deepcopy(cfg)
    initialised.model.backbone.init_cfg = BACKBONE_INIT
    model = build_model(initialised)
    torch.manual_seed(0)
    model.init_weights()
    calibrate_batch_norm_(model, example_inputs(model, IMAGE_SIZE, num_images=16, seed=1))
    if task == 'detection':
        aim_detections_(model, image)
    checkpoint = str(directory / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return SimpleNamespace(task=task, cfg=cfg, checkpoint=checkpoint, image=image, directory=directory)


@pytest.fixture(scope='module')
def classifier_checkpoint(tmp_path_factory) -> str:
    """A default-initialised MobileOne-S0 classifier: enough for the checks that refuse bad inputs."""
    checkpoint = str(tmp_path_factory.mktemp('s0') / 's0.pth')
    torch.save({'state_dict': build_model(small_config('classification')).state_dict(), 'meta': {}}, checkpoint)
    return checkpoint


@pytest.mark.slow
def test_fused_checkpoint_is_exact_and_loads_into_the_deploy_form(trained):
    # float64: these random networks amplify float32 rounding to 2e-5 .. 1e-4 at their outputs, whichever form
    # computes them (a 1-epoch trained RetinaNet-S0 of the demo config: 2.7e-6); see the README's "Correctness".
    out = trained.directory / 'fused.pth'
    fused = fuse_checkpoint(trained.cfg, trained.checkpoint, str(out), image_size=IMAGE_SIZE, precision='float64')
    print(f'{trained.task}: {fused.num_blocks} blocks fused, relative error (float64) {fused.relative_error:.1e}')
    assert fused.num_blocks == 43
    assert fused.relative_error <= FLOAT64_TOLERANCE
    saved = load_checkpoint_strictly(build_model(load_model_config(trained.cfg, {DEPLOY_KEY: True})), str(out))
    assert set(saved) == {'state_dict', 'meta'}
    assert saved['meta']['reparameterized'] == dict(source=trained.checkpoint, relative_error=fused.relative_error,
                                                    precision='float64')
    assert {value.dtype for value in saved['state_dict'].values()} <= {torch.float32, torch.int64}
    assert not [name for name in os.listdir(trained.directory) if name.endswith('.tmp')]


@pytest.mark.slow
@pytest.mark.parametrize('shape', ['static', 'dynamic'])
def test_onnx_runtime_reproduces_pytorch(trained, shape):
    work_dir = trained.directory / f'onnx_{shape}'
    result = deploy(str(ROOT / 'configs/deploy' / TASKS[trained.task][shape]), trained.cfg, trained.checkpoint,
                    trained.image, str(work_dir))
    print(f'{trained.task}, {shape}: {result.agreement.summary}')
    assert result.backend_files == [str(work_dir / 'end2end.onnx')]
    assert (work_dir / 'end2end.onnx').stat().st_size > 1e6
    assert result.num_fused_blocks == 43
    assert result.agreement.passed
    if trained.task == 'detection':
        assert 5 < len(result.pytorch_prediction.pred_instances) < 2 * CANDIDATES
    if trained.task == 'segmentation':
        assert len(result.pytorch_prediction.pred_sem_seg.data.unique()) > 1


@pytest.mark.slow
def test_tools_reparameterize_then_deploy_the_fused_checkpoint(trained, capsys, run_tool):
    fused = str(trained.directory / 'tool_fused.pth')
    config = str(ROOT / TASKS[trained.task]['config'])
    scale = f'test_pipeline.1.scale=({IMAGE_SIZE},{IMAGE_SIZE})'
    options = [] if trained.task == 'classification' else ['--cfg-options', scale]
    run_tool('reparameterize', config, trained.checkpoint, fused, '--precision', 'float64', *options)
    printed = capsys.readouterr().out
    assert f'wrote {fused}' in printed and f'--cfg-options {DEPLOY_KEY}=True' in printed
    work_dir = str(trained.directory / 'tool_onnx')
    run_tool('deploy', str(ROOT / 'configs/deploy' / TASKS[trained.task]['dynamic']), config, fused, trained.image,
             '--work-dir', work_dir, '--cfg-options', f'{DEPLOY_KEY}=True', *options[1:])
    printed = capsys.readouterr().out
    print(printed)
    assert f'exported {work_dir}/end2end.onnx (43 MobileOne blocks fused)' in printed
    assert 'ONNX Runtime vs PyTorch' in printed and 'FAILED' not in printed



def test_checkpoint_of_another_config_is_refused_naming_the_keys(classifier_checkpoint, tmp_path, capsys, run_tool):
    s4_config = str(ROOT / 'configs/mobileone_s4_8xb32_in1k.py')
    out = tmp_path / 'fused.pth'
    expected = (r"does not match the model of the config: missing keys \(\d+\): 'backbone\..*; "
                r"unexpected keys \(\d+\): "
                r"'backbone\.stage1\.0\.branch_conv_list\.1\..*; keys of the wrong shape \(\d+\): 'backbone\..* \(48, "
                r"3, 1, 1\) instead of \(64, 3, 1, 1\)")
    with pytest.raises(CheckpointMismatchError, match=expected):
        fuse_checkpoint(s4_config, classifier_checkpoint, str(out))
    with pytest.raises(CheckpointMismatchError, match=expected):
        deploy(str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'), s4_config, classifier_checkpoint,
               'unused.jpg', str(tmp_path / 'onnx'))
    with pytest.raises(SystemExit, match='error: checkpoint .* does not match'):
        run_tool('reparameterize', s4_config, classifier_checkpoint, str(out))
    assert os.listdir(tmp_path) == []  # neither the fused checkpoint nor the work dir


def test_fused_checkpoint_is_refused_by_the_training_form_with_a_hint(classifier_checkpoint, tmp_path):
    out = str(tmp_path / 'fused.pth')
    fuse_checkpoint(small_config('classification'), classifier_checkpoint, out, image_size=64, tolerance=1)
    with pytest.raises(CheckpointMismatchError, match=f'fused: build the model with {DEPLOY_KEY}=True'):
        load_checkpoint_strictly(build_model(small_config('classification')), out)
    with pytest.raises(ValueError, match='no MobileOne block in the training form'):
        fuse_checkpoint(small_config('classification'), out, str(tmp_path / 'again.pth'),
                        cfg_options={DEPLOY_KEY: True})


def test_missing_checkpoint_is_refused(tmp_path, run_tool):
    config = str(ROOT / TASKS['classification']['config'])
    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth does not exist'):
        fuse_checkpoint(config, missing, str(tmp_path / 'fused.pth'))
    with pytest.raises(SystemExit, match='error: checkpoint .*missing.pth does not exist'):
        run_tool('deploy', str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'), config, missing,
                 'unused.jpg', '--work-dir', str(tmp_path / 'onnx'))
    assert not (tmp_path / 'fused.pth').exists()


def test_output_over_the_input_checkpoint_is_refused(classifier_checkpoint, run_tool):
    config = str(ROOT / TASKS['classification']['config'])
    before = Path(classifier_checkpoint).read_bytes()
    same_file = os.path.join(os.path.dirname(classifier_checkpoint), '.', os.path.basename(classifier_checkpoint))
    for out in (classifier_checkpoint, same_file):
        with pytest.raises(ValueError, match='refusing to overwrite the input checkpoint'):
            fuse_checkpoint(config, classifier_checkpoint, out)
    with pytest.raises(SystemExit, match='error: refusing'):
        run_tool('reparameterize', config, classifier_checkpoint, classifier_checkpoint)
    assert Path(classifier_checkpoint).read_bytes() == before


def test_outputs_beyond_the_tolerance_write_nothing(classifier_checkpoint, tmp_path):
    with pytest.raises(ReparameterizationError, match=r'differs from the training form by .*fused.pth not written'):
        fuse_checkpoint(small_config('classification'), classifier_checkpoint, str(tmp_path / 'fused.pth'),
                        image_size=64, precision='float32', tolerance=1e-12)
    assert os.listdir(tmp_path) == []


def test_unfused_model_is_not_taken_for_deployed():
    model = build_model(small_config('classification'))
    with pytest.raises(DeployError, match='43 of 43 MobileOne blocks are not fused, e.g. backbone.stage0'):
        check_reparameterized(model)
    model.backbone.switch_to_deploy()
    assert check_reparameterized(model) == 43


def test_torchscript_onnx_export_is_the_default_only_inside_the_block():
    export = torch.onnx.export
    with torchscript_onnx_export():
        assert torch.onnx.export is not export
        buffer = io.BytesIO()
        torch.onnx.export(nn.Linear(4, 2), (torch.randn(1, 4), ), buffer, opset_version=11)
    assert torch.onnx.export is export
    assert onnx.load_model_from_string(buffer.getvalue()).opset_import[0].version == 11  # TorchScript's export


def boxes(*rows):
    return InstanceData(bboxes=torch.tensor([row[:4] for row in rows], dtype=torch.float32),
                        scores=torch.tensor([row[4] for row in rows]), labels=torch.tensor([row[5] for row in rows]))


DETECTIONS = boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2))


@pytest.mark.parametrize('actual, passed', [
    (boxes((5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2), (0, 0, 10, 10, 0.9, 1)), True),  # another order
    (boxes((0, 0, 10, 10.01, 0.9, 1), (5, 5, 20, 20, 0.5005, 2), (0, 0, 10, 10, 0.3, 2)), True),  # within tolerance
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2)), False),  # one missing
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 3)), False),  # another label
    (boxes((0, 0, 10, 11, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2)), False),  # IoU 0.91
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.51, 2), (0, 0, 10, 10, 0.3, 2)), False),  # score off by 0.01
])
def test_detections_match_one_to_one_by_label_iou_and_score(actual, passed):
    agreement = detection_agreement(SimpleNamespace(pred_instances=DETECTIONS), SimpleNamespace(pred_instances=actual))
    assert agreement.passed is passed, agreement.summary


@pytest.mark.parametrize('name', DEPLOY_CONFIGS)
def test_deploy_configs_are_mmdeploys_for_onnx_runtime(name):
    path = ROOT / 'configs/deploy' / name
    task, input_shape, dynamic_axes = DEPLOY_CONFIGS[name]
    cfg = Config.fromfile(str(path))
    assert 'import' not in path.read_text()
    assert cfg.backend_config == dict(type='onnxruntime')
    assert cfg.codebase_config.task == task
    assert cfg.onnx_config.save_file == 'end2end.onnx' and cfg.onnx_config.opset_version == 11
    assert cfg.onnx_config.input_shape == input_shape
    assert cfg.onnx_config.get('dynamic_axes') == dynamic_axes


def test_deploy_tool_fails_when_onnx_runtime_disagrees(monkeypatch, tmp_path, capsys, run_tool):
    disagreement = Agreement('classification: logits relative difference 1.0e-02 (limit 1e-04)', False)
    result = DeployResult([str(tmp_path / 'end2end.onnx')], 43, disagreement, None, None)
    monkeypatch.setattr('mobileone_mm.deploy.deploy', lambda *args: result)
    with pytest.raises(SystemExit, match='FAILED: the ONNX model does not reproduce the PyTorch model'):
        run_tool('deploy', 'deploy_cfg.py', 'model_cfg.py', 'model.pth', 'image.jpg', '--work-dir', str(tmp_path))
    assert disagreement.summary in capsys.readouterr().out
