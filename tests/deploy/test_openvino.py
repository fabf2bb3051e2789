"""OpenVINO through mmdeploy's own backend: converted with openvino.convert_model, run with openvino.Core, checked."""
import subprocess
import sys
from types import SimpleNamespace

import openvino
import pytest
import torch
from mmengine.config import Config
from task_checkpoints import CALIBRATION_IMAGES, DEMO, ROOT, deploy_demo_task

from mobileone_mm.compat.openvino_conversion import convert_onnx
from mobileone_mm.compat.openvino_runtime import OpenVINOCoreWrapper, build_core_wrapper
from mobileone_mm.deploy.export import deploy
from mobileone_mm.deploy.quantize import quantization_settings
from mobileone_mm.utils.openvino_model import inference_precision

# Each task family's fp32 OpenVINO deploy config: dynamic where mmdeploy ships one, static for mmseg at 512x512.
OPENVINO_CONFIGS = {'classification': 'classification_openvino_dynamic-224x224.py',
                    'detection': 'detection_openvino_dynamic-800x1344.py',
                    'ssdlite': 'detection_openvino_dynamic-800x1344.py',
                    'segmentation': 'segmentation_openvino_dynamic-1024x2048.py'}


@pytest.fixture(scope='session')
def openvino_export(trained) -> SimpleNamespace:
    """The task's checkpoint through ``deploy`` with its OpenVINO deploy config, once per task."""
    work_dir = trained.directory / 'openvino'
    deploy_cfg = Config.fromfile(str(ROOT / 'configs/deploy' / OPENVINO_CONFIGS[trained.task]))
    result = deploy(deploy_cfg, trained.cfg, trained.checkpoint, trained.image, str(work_dir))
    return SimpleNamespace(trained=trained, deploy_cfg=deploy_cfg, work_dir=work_dir, result=result)


@pytest.mark.slow
def test_openvino_reproduces_pytorch_in_f32(openvino_export):
    result, work_dir = openvino_export.result, openvino_export.work_dir
    print(f'{openvino_export.trained.task}: {result.agreement.summary}')
    assert result.backend_files == [str(work_dir / 'end2end.xml')]
    assert (work_dir / 'end2end.bin').stat().st_size > 1e6
    assert result.num_fused_blocks == 43
    assert result.agreement.passed
    assert result.inference_precision == 'f32' and result.precision_agreement is None
    assert not [path.name for path in work_dir.iterdir() if path.name.startswith('.')]  # no partial save left


@pytest.mark.slow
@pytest.mark.xdist_group('trained-classification')  # on the pytest-xdist worker that built the export
@pytest.mark.parametrize('trained', ['classification'], indirect=True)
def test_a_dynamic_model_takes_any_batch_in_mmdeploy_s_backend_model(openvino_export):
    """mmdeploy's wrapper asserted batch 1; the model of a dynamic config takes a batch of 3 and of 1 alike."""
    export = openvino_export
    wrapper = build_core_wrapper(None, export.result.backend_files, 'cpu', deploy_cfg=export.deploy_cfg)
    inputs = torch.randn(3, 3, 64, 64)
    batched = wrapper({'input': inputs})['output']
    single = torch.cat([wrapper({'input': image[None]})['output'] for image in inputs])
    assert batched.shape == (3, 1000) and torch.allclose(batched, single, rtol=1e-5, atol=1e-6)
    assert wrapper.output_to_list({'output': batched})[0] is batched


def write_onnx(path) -> str:
    torch.onnx.export(torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), str(path), input_names=['input'],
                      output_names=['output'], dynamic_axes={'input': {0: 'batch'}}, dynamo=False)
    return str(path)


def test_conversion_keeps_the_export_s_shapes_and_fp32_weights(tmp_path):
    xml_file = convert_onnx(write_onnx(tmp_path / 'end2end.onnx'), str(tmp_path / 'ir'), {'input': [1, 3, 8, 8]},
                            ['output'])
    model = openvino.Core().read_model(xml_file)
    assert xml_file == str(tmp_path / 'ir/end2end.xml')
    assert model.inputs[0].get_partial_shape().to_string() == '[?,3,8,8]'  # dynamic batch, not opt_shapes' 1
    constants = [op for op in model.get_ops() if op.get_type_name() == 'Constant']
    assert {op.get_element_type().to_string() for op in constants if op.get_output_size() and
            op.get_output_partial_shape(0).rank.get_length() == 4} == {'f32'}
    assert sorted(path.name for path in (tmp_path / 'ir').iterdir()) == ['end2end.bin', 'end2end.xml']


@pytest.mark.parametrize('mo_options, output_names, message', [
    ('--compress_to_fp16', ['output'], r"backend_config.mo_options '--compress_to_fp16' are options of the Model "
                                       r"Optimizer \('mo'\), which OpenVINO no longer ships"),
    ('', ['dets'], r"the deploy config names the output 'dets', but the ONNX model has the outputs \['output'\]"),
])
def test_conversion_refuses_what_openvino_convert_model_cannot_honour(mo_options, output_names, message, tmp_path):
    options = SimpleNamespace(get_options=lambda: mo_options)
    with pytest.raises(ValueError, match=message):
        convert_onnx(write_onnx(tmp_path / 'end2end.onnx'), str(tmp_path / 'ir'), {'input': [1, 3, 8, 8]},
                     output_names, options)
    assert not (tmp_path / 'ir').exists()


class FlattenToFixedSize(torch.nn.Module):
    """A static graph whose Reshape fixes its size, as a static export's resizes do."""

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs.reshape(1, 3 * 8 * 8)


def test_a_static_model_is_reshaped_to_another_input_where_its_graph_allows(tmp_path):
    torch.onnx.export(torch.nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8), str(tmp_path / 'conv.onnx'),
                      input_names=['input'], output_names=['output'], dynamo=False)
    torch.onnx.export(FlattenToFixedSize(), torch.randn(1, 3, 8, 8), str(tmp_path / 'fixed.onnx'),
                      input_names=['input'], output_names=['output'], dynamo=False)
    conv = OpenVINOCoreWrapper(convert_onnx(str(tmp_path / 'conv.onnx'), str(tmp_path), {'input': [1, 3, 8, 8]},
                                            ['output']), precision='f32')
    assert conv({'input': torch.randn(2, 3, 16, 16)})['output'].shape == (2, 4, 14, 14)
    assert conv({'input': torch.randn(1, 3, 8, 8)})['output'].shape == (1, 4, 6, 6)
    fixed = OpenVINOCoreWrapper(convert_onnx(str(tmp_path / 'fixed.onnx'), str(tmp_path), {'input': [1, 3, 8, 8]},
                                             ['output']), precision='f32')
    with pytest.raises(ValueError, match=r"^the OpenVINO model takes inputs of \{'input': '\[1,3,8,8\]'\}, not "
                                         r"\{'input': '\[1,3,16,16\]'\}, and cannot be reshaped to them: use a "
                                         r"dynamic deploy config$"):
        fixed({'input': torch.randn(1, 3, 16, 16)})


def test_the_wrapper_runs_in_the_deploy_config_s_precision_on_the_cpu_only(tmp_path):
    xml_file = convert_onnx(write_onnx(tmp_path / 'end2end.onnx'), str(tmp_path), {'input': [1, 3, 8, 8]},
                            ['output'])
    assert OpenVINOCoreWrapper(xml_file, precision='f32').precision == 'f32'
    assert inference_precision(Config(dict(backend_config=dict(type='openvino')))) == 'default'  # mmdeploy's configs
    with pytest.raises(ValueError, match=r"^backend_config.inference_precision 'fp32' is not one of "
                                         r"\['f32', 'bf16', 'f16', 'default'\]$"):
        inference_precision(Config(dict(backend_config=dict(type='openvino', inference_precision='fp32'))))
    with pytest.raises(ValueError, match="device 'cuda:0': the OpenVINO backend runs on the CPU here"):
        build_core_wrapper(None, [xml_file], 'cuda:0')


def test_mmdeploy_s_openvino_backend_is_patched_when_imported_after_mobileone_mm():
    script = ('import mobileone_mm, sys; assert "mmdeploy" not in sys.modules\n'
              'from mmdeploy.backend.base import get_backend_manager\n'
              'from mmdeploy.backend.openvino import onnx2openvino\n'
              'from mobileone_mm.compat.openvino_conversion import convert_onnx\n'
              'from mobileone_mm.compat.openvino_runtime import build_core_wrapper\n'
              'manager = get_backend_manager("openvino")\n'
              'assert manager.build_wrapper.__func__ is build_core_wrapper and onnx2openvino.from_onnx is convert_onnx')
    completed = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]


@pytest.mark.parametrize('quantization, message', [
    (dict(preset='fast'), r"quantization preset 'fast' is not one of \['performance', 'mixed'\]"),
    (dict(bias_correction=True), r"quantization bias_correction True is not one of \['fast', 'full', 'none'\]"),
    (dict(method='minmax'), r"quantization setting 'method' is not one of .* \(backend 'openvino'\)"),
])
def test_nncf_settings_refuse_bad_values(quantization, message):
    with pytest.raises(ValueError, match=message):
        quantization_settings(Config(dict(backend_config=dict(type='openvino', precision='int8',
                                                              quantization=quantization))))


@pytest.fixture(scope='session', params=[pytest.param(task, marks=pytest.mark.xdist_group(f'int8-{task}'))
                                          for task in DEMO])
def openvino_int8_deploy(request, demo_dir, run_tool) -> SimpleNamespace:
    """``tools/deploy.py`` with the task's OpenVINO INT8 deploy config on its demo config, once per run."""
    deploy_config = next((ROOT / 'configs/deploy').glob(f'{request.param}_openvino-int8_*.py'))
    return deploy_demo_task(request.param, str(deploy_config), demo_dir, run_tool)


@pytest.mark.slow
def test_openvino_int8_deploy_quantizes_with_nncf_and_prints_its_metric_beside_fp32(openvino_int8_deploy):
    metric, work_dir = DEMO[openvino_int8_deploy.task][1], openvino_int8_deploy.work_dir
    assert (f'quantized {work_dir}/end2end_int8.xml (calibrated on {CALIBRATION_IMAGES} images of the train split)'
            in openvino_int8_deploy.printed)
    table = [line for line in openvino_int8_deploy.printed.splitlines() if line.startswith('| ')]
    assert table[0].startswith(f'| model | {metric} |')
    assert [line.split(' | ')[0] for line in table[1:]] == ['| PyTorch fp32', '| OpenVINO f32', '| OpenVINO INT8']
    model = openvino.Core().read_model(str(work_dir / 'end2end_int8.xml'))
    assert any(op.get_type_name() == 'FakeQuantize' for op in model.get_ops())


@pytest.mark.slow
@pytest.mark.xdist_group('trained-classification')
@pytest.mark.parametrize('trained', ['classification'], indirect=True)
def test_openvino_bf16_is_checked_in_f32_then_reported_in_the_precision_that_ran(trained, tmp_path):
    deploy_config = ROOT / 'configs/deploy/classification_openvino-bf16_dynamic-224x224.py'
    result = deploy(str(deploy_config), trained.cfg, trained.checkpoint, trained.image, str(tmp_path / 'bf16'))
    assert result.agreement.passed  # in f32
    # bf16 where the CPU computes it (AMX, AVX512-BF16), else OpenVINO keeps f32 and there is nothing more to compare
    assert result.inference_precision in ('bf16', 'f32')
    assert (result.precision_agreement is not None) == (result.inference_precision == 'bf16')
    if result.precision_agreement is not None:
        print(f'bf16: {result.precision_agreement.summary}')
        assert 'top-1 label' in result.precision_agreement.summary
