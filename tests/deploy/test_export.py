"""The mmdeploy export to ONNX Runtime (tools/deploy.py): re-parameterized, and predicting what PyTorch predicts."""
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config
from PIL import Image
from task_checkpoints import CANDIDATES, IMAGE_SIZE, ROOT, TASKS, small_config, task_checkpoint

from mobileone_mm.deploy.agreement import Agreement
from mobileone_mm.deploy.export import DeployError, DeployResult, check_backend_files, check_reparameterized, deploy
from mobileone_mm.deploy.task_models import FUSED_FORM_KEY, build_model
from mobileone_mm.utils.logging import CONSOLE_NOISE


@pytest.mark.slow
@pytest.mark.parametrize('shape', ['static', 'dynamic'])
def test_onnx_runtime_reproduces_pytorch(trained, shape, request):
    if shape == 'dynamic':  # the export of the SDK tests, which resizes with OpenCV, as the SDK does
        export = request.getfixturevalue('dynamic_export')
        work_dir, result = export.work_dir, export.result
    else:
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


# What mmdeploy's own tools/deploy.py does to export: torch2onnx in a process that PIPELINE_MANAGER spawns, which
# imports mobileone_mm only through the model config's custom_imports.
MMDEPLOY_TORCH2ONNX = """
import sys
from mmdeploy.apis import torch2onnx
from mmdeploy.apis.core import PIPELINE_MANAGER

if __name__ == '__main__':
    image, work_dir, deploy_cfg, model_cfg, checkpoint = sys.argv[1:]
    PIPELINE_MANAGER.enable_multiprocess(True, [torch2onnx])
    torch2onnx(image, work_dir, 'end2end.onnx', deploy_cfg, model_cfg, checkpoint, 'cpu')
    assert 'mobileone_mm' not in sys.modules, 'the export was to import it in its own process'
"""


@pytest.mark.slow
def test_mmdeploy_own_export_in_a_spawned_process_is_fused_and_reproduces_pytorch(trained):
    work_dir = trained.directory / 'mmdeploy_torch2onnx'
    model_cfg, script = trained.directory / 'model_cfg.py', trained.directory / 'mmdeploy_torch2onnx.py'
    trained.cfg.dump(str(model_cfg))
    script.write_text(MMDEPLOY_TORCH2ONNX)
    deploy_cfg = str(ROOT / 'configs/deploy' / TASKS[trained.task]['dynamic'])
    completed = subprocess.run([sys.executable, str(script), trained.image, str(work_dir), deploy_cfg, str(model_cfg),
                                trained.checkpoint], capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = check_backend_files(Config.fromfile(deploy_cfg), trained.cfg, trained.checkpoint,
                                 [str(work_dir / 'end2end.onnx')], trained.image)
    print(f'{trained.task}, mmdeploy torch2onnx: {result.agreement.summary}')
    assert result.num_fused_blocks == 43
    assert result.agreement.passed


@pytest.mark.slow
def test_detection_candidates_are_selected_as_mmdet_selects_them(trained):
    """With nms_pre binding (10 pairs a level), the export keeps mmdet's candidates.

    See :mod:`mobileone_mm.compat.mmdeploy_candidate_selection`.
    """
    if trained.task not in ('detection', 'ssdlite'):
        pytest.skip('dense detection heads only')
    result = deploy(str(ROOT / 'configs/deploy' / TASKS[trained.task]['dynamic']), trained.cfg, trained.checkpoint,
                    trained.image, str(trained.directory / 'onnx_nms_pre'), cfg_options={'model.test_cfg.nms_pre': 10})
    print(f'{trained.task}, nms_pre=10: {result.agreement.summary}')
    assert result.agreement.passed and 'unmatched' not in result.agreement.summary
    assert len(result.pytorch_prediction.pred_instances) > 5


@pytest.mark.slow
def test_tools_reparameterize_then_deploy_the_fused_checkpoint(trained, capfd, run_tool):
    fused = str(trained.directory / 'tool_fused.pth')
    config = str(ROOT / TASKS[trained.task]['config'])
    scale = f'test_pipeline.1.scale=({IMAGE_SIZE},{IMAGE_SIZE})'
    options = [] if trained.task == 'classification' else ['--cfg-options', scale]
    run_tool('reparameterize', config, trained.checkpoint, fused, '--precision', 'float64', *options)
    printed = capfd.readouterr().out
    assert f'wrote {fused}' in printed and f'--cfg-options {FUSED_FORM_KEY}=True' in printed
    work_dir = str(trained.directory / 'tool_onnx')
    run_tool('deploy', str(ROOT / 'configs/deploy' / TASKS[trained.task]['dynamic']), config, fused, trained.image,
             '--work-dir', work_dir, '--cfg-options', f'{FUSED_FORM_KEY}=True', *options[1:])
    printed = capfd.readouterr().out
    assert f'exported {work_dir}/end2end.onnx (43 MobileOne blocks fused)' in printed
    assert 'ONNX Runtime vs PyTorch' in printed and 'FAILED' not in printed
    # mmdeploy's harmless notices (its deprecated get_onnx_config, its registry fallbacks): in the log file only
    logged_noise = [noise for noise in CONSOLE_NOISE if noise in (Path(work_dir) / 'deploy.log').read_text()]
    assert logged_noise and not any(noise in printed for noise in logged_noise)


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
        run_tool('deploy', str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'), 'model_cfg.py',
                 'model.pth', 'image.jpg', '--work-dir', str(tmp_path))
    assert disagreement.summary in capsys.readouterr().out


def write_deploy_config(path, **changes) -> str:
    """A copy of the classification deploy config with ``changes`` merged in."""
    cfg = Config.fromfile(str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'))
    cfg.merge_from_dict(changes)
    cfg.dump(str(path))
    return str(path)


@pytest.mark.parametrize('deploy_config, image, message', [
    ('configs/deploy/detection_onnxruntime_static.py', 'image.jpg',
     r"exports the task 'ObjectDetection', but .*mobileone_s0_8xb32_in1k.py is an mmpretrain model "
     r"\('Classification'\): use configs/deploy/classification_onnxruntime_\*.py"),
    ('ncnn', 'image.jpg', r"backend 'ncnn' is not supported; the deploy configs here are for \['onnxruntime', "
                          r"'openvino'\] \(configs/deploy/\*_onnxruntime_\*.py, \*_openvino_\*.py\) and ExecuTorch"),
    ('configs/deploy/classification_onnxruntime_static.py', 'not_an_image.jpg',
     'not_an_image.jpg is not an image mmcv can read'),
    ('configs/deploy/classification_onnxruntime_static.py', 'missing.jpg', 'image .*missing.jpg does not exist'),
])
def test_deploy_tool_refuses_what_does_not_fit_before_exporting_and_leaves_no_work_dir(
        deploy_config, image, message, classifier_checkpoint, tmp_path, run_tool):
    Image.new('RGB', (64, 64)).save(tmp_path / 'image.jpg')
    (tmp_path / 'not_an_image.jpg').write_text('plain text, not an image')
    if deploy_config == 'ncnn':
        deploy_config = write_deploy_config(tmp_path / 'ncnn.py', backend_config=dict(type='ncnn'))
    work_dir = tmp_path / 'work_dir'
    with pytest.raises(SystemExit, match=f'error: .*{message}'):
        run_tool('deploy', str(ROOT / deploy_config) if deploy_config.startswith('configs') else deploy_config,
                 str(ROOT / TASKS['classification']['config']), classifier_checkpoint, str(tmp_path / image),
                 '--work-dir', str(work_dir))
    assert not work_dir.exists()


def test_failed_export_removes_the_work_dir_it_created(classifier_checkpoint, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError('export failed')

    Image.new('RGB', (64, 64)).save(tmp_path / 'image.jpg')
    monkeypatch.setattr('mobileone_mm.deploy.export.torch2onnx', fail)
    for work_dir, existed in ((tmp_path / 'new', False), (tmp_path, True)):
        with pytest.raises(RuntimeError, match='export failed'):
            deploy(str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'), small_config('classification'),
                   classifier_checkpoint, str(tmp_path / 'image.jpg'), str(work_dir))
        assert work_dir.exists() == existed


# As small as each check allows: DeepLabV3's output-stride-8 maps are 8x8 at 64 px; SSDLite's six levels, laid out for
# 320 px, keep a 1x1 map at 128 px.
EVERY_ARCH_IMAGE_SIZE = {'segmentation': 64, 'ssdlite': IMAGE_SIZE}
# mmseg's DeepLabV3 heads (ASPP 512 channels wide, FCN 256) hold most of the weights that are built, exported and
# read again: with them an S4 test took 19.5 s, with 64 channels 6.6 s. What this test checks of an arch, its fused
# backbone feeding mmseg's heads at output stride 8, does not depend on their width (the config tests build them
# at full width).
NARROW_HEAD_CHANNELS = 64
OTHER_ARCH_CONFIGS = [  # every shipped SSDLite and DeepLabV3 config beyond the ones TASKS deploys
    *(('ssdlite', f'configs/ssdlite_mobileone_{arch}_8xb24-600e_coco.py') for arch in ('s1', 's2', 's3', 's4')),
    *(('segmentation', f'configs/deeplabv3_mobileone_{arch}_d8_4xb4_{schedule}_512x512.py')
      for arch in ('s0', 's2', 's3', 's4') for schedule in ('20k_voc12aug', '80k_ade20k')),
    ('segmentation', 'configs/deeplabv3_mobileone_s1_d8_4xb4_80k_ade20k_512x512.py'),
]


@pytest.mark.slow
@pytest.mark.parametrize('task, config', OTHER_ARCH_CONFIGS, ids=lambda value: Path(value).stem)
def test_every_arch_of_the_downstream_configs_deploys_and_reproduces_pytorch(task, config, tmp_path):
    size = EVERY_ARCH_IMAGE_SIZE[task]
    cfg = small_config(task, config, size)
    if task == 'segmentation':
        cfg.model.decode_head.channels = cfg.model.auxiliary_head.channels = NARROW_HEAD_CHANNELS
    trained = task_checkpoint(task, cfg, tmp_path, size)
    result = deploy(str(ROOT / 'configs/deploy' / TASKS[task]['dynamic']), trained.cfg, trained.checkpoint,
                    trained.image, str(tmp_path / 'onnx'))
    print(f'{Path(config).stem}: {result.agreement.summary}')
    assert result.num_fused_blocks == 43
    assert result.agreement.passed
