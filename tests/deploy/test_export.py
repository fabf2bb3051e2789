"""The mmdeploy export to ONNX Runtime (tools/deploy.py): re-parameterized, and predicting what PyTorch predicts."""
import pytest
from task_checkpoints import CANDIDATES, IMAGE_SIZE, ROOT, TASKS, small_config

from mobileone_mm.deploy.agreement import Agreement
from mobileone_mm.deploy.export import DeployError, DeployResult, check_reparameterized, deploy
from mobileone_mm.deploy.task_models import FUSED_FORM_KEY, build_model


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
    if trained.task in ('detection', 'ssdlite'):
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
    assert f'wrote {fused}' in printed and f'--cfg-options {FUSED_FORM_KEY}=True' in printed
    work_dir = str(trained.directory / 'tool_onnx')
    run_tool('deploy', str(ROOT / 'configs/deploy' / TASKS[trained.task]['dynamic']), config, fused, trained.image,
             '--work-dir', work_dir, '--cfg-options', f'{FUSED_FORM_KEY}=True', *options[1:])
    printed = capsys.readouterr().out
    print(printed)
    assert f'exported {work_dir}/end2end.onnx (43 MobileOne blocks fused)' in printed
    assert 'ONNX Runtime vs PyTorch' in printed and 'FAILED' not in printed


def test_unfused_model_is_not_taken_for_deployed():
    model = build_model(small_config('classification'))
    with pytest.raises(DeployError, match='43 of 43 MobileOne blocks are not fused, e.g. backbone.stage0'):
        check_reparameterized(model)
    model.backbone.switch_to_deploy()
    assert check_reparameterized(model) == 43


def test_deploy_tool_fails_when_onnx_runtime_disagrees(monkeypatch, tmp_path, capsys, run_tool):
    disagreement = Agreement('classification: logits relative difference 1.0e-02 (limit 1e-04)', False)
    result = DeployResult([str(tmp_path / 'end2end.onnx')], 43, disagreement, None, None)
    monkeypatch.setattr('mobileone_mm.deploy.export.deploy', lambda *args: result)
    with pytest.raises(SystemExit, match='FAILED: the ONNX model does not reproduce the PyTorch model'):
        run_tool('deploy', 'deploy_cfg.py', 'model_cfg.py', 'model.pth', 'image.jpg', '--work-dir', str(tmp_path))
    assert disagreement.summary in capsys.readouterr().out
