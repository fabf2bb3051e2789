"""The ExecuTorch (XNNPACK) export for phones (tools/deploy.py with configs/deploy/*_executorch-xnnpack_*.py).

Every task family's ``.pte`` runs in ExecuTorch's runtime and predicts what the checkpoint predicts in PyTorch,
under the rules of the ONNX Runtime export (:mod:`mobileone_mm.deploy.agreement`).
"""
import pytest
import torch
import torch.nn as nn
from PIL import Image
from task_checkpoints import CANDIDATES, ROOT, TASKS

from mobileone_mm import MobileOneBlock
from mobileone_mm.deploy.executorch_xnnpack import PteModel, TensorOutputs, deploy_pte, export_pte
from mobileone_mm.deploy.export import DeployError

CONFIG_OF_TASK = {task: str(ROOT / 'configs/deploy' / f'{"detection" if task == "ssdlite" else task}'
                           '_executorch-xnnpack_static.py') for task in TASKS}


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
    assert export_pte(model, inputs, str(tmp_path / 'tiny.pte')) >= 1
    with torch.no_grad():
        torch.testing.assert_close(PteModel(str(tmp_path / 'tiny.pte'))(inputs)[0], TensorOutputs(model)(inputs)[0],
                                   rtol=1e-5, atol=1e-5)
    import executorch.exir as exir
    lower = exir.to_edge_transform_and_lower
    monkeypatch.setattr(exir, 'to_edge_transform_and_lower', lambda program, partitioner: lower(program))
    with pytest.raises(DeployError, match='1 convolutions were not delegated to XNNPACK'):
        export_pte(model, inputs, str(tmp_path / 'portable.pte'))
    assert not (tmp_path / 'portable.pte').exists()


@pytest.mark.parametrize('deploy_config, image, message', [
    ('detection', 'image.jpg', "exports the task 'ObjectDetection', but .* is an mmpretrain model"),
    ('classification', 'not_an_image.jpg', 'not_an_image.jpg is not an image mmcv can read'),
    ('classification', 'missing.jpg', 'image .*missing.jpg does not exist'),
])
def test_the_tool_refuses_what_does_not_fit_before_exporting_and_leaves_no_work_dir(
        deploy_config, image, message, classifier_checkpoint, tmp_path, run_tool):
    Image.new('RGB', (64, 64)).save(tmp_path / 'image.jpg')
    (tmp_path / 'not_an_image.jpg').write_text('plain text, not an image')
    with pytest.raises(SystemExit, match=f'^error: .*{message}'):
        run_tool('deploy', CONFIG_OF_TASK[deploy_config], str(ROOT / TASKS['classification']['config']),
                 classifier_checkpoint, str(tmp_path / image), '--work-dir', str(tmp_path / 'work_dir'))
    assert not (tmp_path / 'work_dir').exists()
