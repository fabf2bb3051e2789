"""The deploy configs (configs/deploy/): mmdeploy's own for ONNX Runtime and OpenVINO."""
import pytest
from mmengine.config import Config
from task_checkpoints import ROOT

DYNAMIC_AXES = {
    'Classification': {'input': {0: 'batch', 2: 'height', 3: 'width'}, 'output': {0: 'batch'}},
    'ObjectDetection': {'input': {0: 'batch', 2: 'height', 3: 'width'}, 'dets': {0: 'batch', 1: 'num_dets'},
                        'labels': {0: 'batch', 1: 'num_dets'}},
    'Segmentation': {'input': {0: 'batch', 2: 'height', 3: 'width'}, 'output': {0: 'batch', 2: 'height', 3: 'width'}},
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


@pytest.mark.parametrize('task', ['classification', 'detection', 'segmentation'])
def test_int8_deploy_configs_are_the_dynamic_ones_with_int8_at_opset_13(task):
    """Per-channel DequantizeLinear needs opset 13; the rest is the fp32 dynamic config's."""
    int8 = Config.fromfile(str(ROOT / 'configs/deploy' / f'{task}_onnxruntime-int8_dynamic.py'))
    fp32 = Config.fromfile(str(ROOT / 'configs/deploy' / f'{task}_onnxruntime_dynamic.py'))
    assert int8.backend_config == dict(type='onnxruntime', precision='int8',
                                       quantization=dict(num_images=64, per_channel=True, method='minmax',
                                                         calibration_split='train'))
    assert int8.onnx_config.opset_version == 13
    assert {**int8.onnx_config, 'opset_version': 11} == dict(fp32.onnx_config)
    assert int8.codebase_config == fp32.codebase_config


# mmdeploy 1.3.1's OpenVINO configs for the three tasks: (task, input_shape, dynamic, opt_shapes).
OPENVINO_CONFIGS = {
    'classification_openvino_dynamic-224x224.py': ('Classification', None, True, [1, 3, 224, 224]),
    'detection_openvino_dynamic-800x1344.py': ('ObjectDetection', None, True, [1, 3, 800, 1344]),
    'segmentation_openvino_static-512x512.py': ('Segmentation', [512, 512], False, [1, 3, 512, 512]),
    'segmentation_openvino_dynamic-1024x2048.py': ('Segmentation', None, True, [1, 3, 1024, 2048]),
}


@pytest.mark.parametrize('name', OPENVINO_CONFIGS)
def test_openvino_configs_are_mmdeploys_computing_in_f32(name):
    task, input_shape, dynamic, opt_shape = OPENVINO_CONFIGS[name]
    cfg = Config.fromfile(str(ROOT / 'configs/deploy' / name))
    assert cfg.backend_config == dict(type='openvino', inference_precision='f32',
                                      model_inputs=[dict(opt_shapes=dict(input=opt_shape))])
    assert cfg.codebase_config.task == task and cfg.codebase_config.get('with_argmax', True)
    assert cfg.onnx_config.input_shape == input_shape
    assert cfg.onnx_config.get('dynamic_axes') == (DYNAMIC_AXES[task] if dynamic else None)


@pytest.mark.parametrize('name', [name for name in OPENVINO_CONFIGS if 'static' not in name])
def test_openvino_bf16_and_int8_configs_are_the_fp32_ones_with_their_precision(name):
    fp32 = Config.fromfile(str(ROOT / 'configs/deploy' / name))
    bf16 = Config.fromfile(str(ROOT / 'configs/deploy' / name.replace('_openvino_', '_openvino-bf16_')))
    int8 = Config.fromfile(str(ROOT / 'configs/deploy' / name.replace('_openvino_', '_openvino-int8_')))
    assert bf16.backend_config == dict(fp32.backend_config, inference_precision='bf16')
    assert int8.backend_config == dict(fp32.backend_config, precision='int8', quantization=dict(
        num_images=64, calibration_split='train', preset='mixed', activation_range='minmax', bias_correction='none'))
    for cfg in (bf16, int8):
        assert cfg.onnx_config == fp32.onnx_config and cfg.codebase_config == fp32.codebase_config
