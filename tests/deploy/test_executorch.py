"""The ExecuTorch (XNNPACK) export for phones (tools/deploy.py with configs/deploy/*_executorch-xnnpack_*.py).

Every task family's ``.pte`` runs in ExecuTorch's runtime and predicts what the checkpoint predicts in PyTorch,
under the rules of the ONNX Runtime export (:mod:`mobileone_mm.deploy.agreement`).
"""
import contextlib
import io

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from PIL import Image
from task_checkpoints import CALIBRATION_IMAGES, CANDIDATES, DEMO, ROOT, TASKS, initialised_checkpoint

from mobileone_mm import MobileOneBlock
from mobileone_mm.deploy.executorch_xnnpack import (
    PteModel,
    as_onnxruntime_config,
    deploy_pte,
    export_pte,
)
from mobileone_mm.deploy.export import DeployError
from mobileone_mm.deploy.quantize import calibration_images, quantization_settings
from mobileone_mm.deploy.task_models import TensorOutputs, load_model_config

CONFIG_OF_TASK = {task: str(ROOT / 'configs/deploy' / f'{"detection" if task == "ssdlite" else task}'
                           '_executorch-xnnpack_static.py') for task in TASKS}
INT8_CONFIG = str(ROOT / 'configs/deploy/classification_executorch-xnnpack-int8_static.py')


@pytest.mark.slow
def test_executorch_reproduces_pytorch(trained):
    work_dir = trained.directory / 'executorch'
    result = deploy_pte(CONFIG_OF_TASK[trained.task], trained.cfg, trained.checkpoint, trained.image, str(work_dir))
    print(f'{trained.task}: {result.agreement.summary}')
    assert result.backend_files == [str(work_dir / 'end2end.pte')]
    assert (work_dir / 'end2end.pte').stat().st_size > 1e6
    assert result.num_fused_blocks == 43 and result.agreement.passed and result.delegate_calls >= 1
    if trained.task in ('detection', 'ssdlite'):
        assert 5 < len(result.pytorch_prediction.pred_instances) < 2 * CANDIDATES
    if trained.task == 'segmentation':
        assert len(result.pytorch_prediction.pred_sem_seg.data.unique()) > 1


class TinyTaskModel(nn.Module):
    """A fused MobileOne block answering ``mode='tensor'``, as the task models do."""

    def __init__(self) -> None:
        super().__init__()
        self.block = MobileOneBlock(3, 8, 3, num_convs=2)
        self.block.switch_to_deploy()

    def forward(self, inputs: torch.Tensor, mode: str = 'tensor') -> torch.Tensor:
        return self.block(inputs)


@pytest.mark.slow
def test_the_pte_runs_the_model_and_a_convolution_outside_xnnpack_fails_the_export(tmp_path, monkeypatch):
    model, inputs = TinyTaskModel().eval(), torch.randn(1, 3, 16, 16)
    assert export_pte(TensorOutputs(model).eval(), inputs, str(tmp_path / 'tiny.pte')) >= 1
    with torch.no_grad():
        torch.testing.assert_close(PteModel(str(tmp_path / 'tiny.pte'))(inputs)[0], TensorOutputs(model)(inputs)[0],
                                   rtol=1e-5, atol=1e-5)
    import executorch.exir as exir
    lower = exir.to_edge_transform_and_lower
    monkeypatch.setattr(exir, 'to_edge_transform_and_lower', lambda program, partitioner: lower(program))
    with pytest.raises(DeployError, match='1 convolutions were not delegated to XNNPACK'):
        export_pte(TensorOutputs(model).eval(), inputs, str(tmp_path / 'portable.pte'))
    assert not (tmp_path / 'portable.pte').exists()


@pytest.mark.parametrize('deploy_config, image, options, message', [
    (CONFIG_OF_TASK['detection'], 'image.jpg', [], "exports the task 'ObjectDetection', but .* is an mmpretrain model"),
    (CONFIG_OF_TASK['classification'], 'not_an_image.jpg', [], 'not_an_image.jpg is not an image mmcv can read'),
    (CONFIG_OF_TASK['classification'], 'missing.jpg', [], 'image .*missing.jpg does not exist'),
    (INT8_CONFIG, 'image.jpg', ['--calib-images', '0'], 'the number of calibration images must be an int >= 1, not 0'),
    (INT8_CONFIG, 'image.jpg', ['--timing-batch', '4'], '--timing-batch are for ONNX Runtime'),
])
def test_the_tool_refuses_what_does_not_fit_before_exporting_and_leaves_no_work_dir(
        deploy_config, image, options, message, classifier_checkpoint, tmp_path, run_tool):
    Image.new('RGB', (64, 64)).save(tmp_path / 'image.jpg')
    (tmp_path / 'not_an_image.jpg').write_text('plain text, not an image')
    with pytest.raises(SystemExit, match=f'^error: .*{message}'):
        run_tool('deploy', deploy_config, str(ROOT / TASKS['classification']['config']), classifier_checkpoint,
                 str(tmp_path / image), '--work-dir', str(tmp_path / 'work_dir'), *options)
    assert not (tmp_path / 'work_dir').exists()


def test_executorch_quantization_settings_are_its_own():
    settings = quantization_settings(Config.fromfile(INT8_CONFIG))
    assert settings == dict(num_images=64, per_channel=True, calibration_split='train', fp32_modules=[])
    ort_setting = Config(dict(backend_config=dict(type='executorch', precision='int8', quantization=dict(method='kl'))))
    with pytest.raises(ValueError, match=r"^quantization setting 'method' is not one of \['num_images', 'per_channel', "
                       r"'calibration_split', 'fp32_modules'\] \(backend 'executorch'\)$"):
        quantization_settings(ort_setting)


@pytest.mark.slow
def test_int8_pte_is_calibrated_on_training_images_and_its_metric_printed_beside_fp32(demo_dir, run_tool, monkeypatch):
    """The demo classifier through the INT8 config: both ``.pte``, the test-set table, the INT8 ``.pte`` faithful."""
    config, metric, image = str(ROOT / DEMO['classification'][0]), DEMO['classification'][1], \
        f'data/demo/{DEMO["classification"][2]}'
    work_dir = demo_dir / 'classification_pte_int8'
    monkeypatch.chdir(demo_dir)  # the demo configs read data/demo/...
    checkpoint = initialised_checkpoint(config, demo_dir / 'classification_pte.pth', image)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        run_tool('deploy', INT8_CONFIG, config, checkpoint, image, '--work-dir', str(work_dir),
                 '--calib-images', str(CALIBRATION_IMAGES))
    print(printed.getvalue())
    assert (f'quantized {work_dir}/end2end_int8.pte (calibrated on {CALIBRATION_IMAGES} images of the train split)'
            in printed.getvalue())
    table = [line.split(' | ') for line in printed.getvalue().splitlines() if line.startswith('| ')]
    assert table[0][1] == metric and [row[0] for row in table[1:]] == ['| PyTorch fp32', '| ExecuTorch fp32',
                                                                        '| ExecuTorch INT8']
    assert table[1][1] == table[2][1]  # fp32 in ExecuTorch scores what PyTorch scores on the same inputs
    deploy_cfg, model_cfg = as_onnxruntime_config(Config.fromfile(INT8_CONFIG), (64, 64)), load_model_config(config)
    images = calibration_images(deploy_cfg, model_cfg, 'train', CALIBRATION_IMAGES)
    assert all('/train/' in path for path in images)
    # the INT8 program holds INT8 weights: a quarter of the fp32 program's bytes and some
    assert (work_dir / 'end2end_int8.pte').stat().st_size < 0.4 * (work_dir / 'end2end.pte').stat().st_size
