"""INT8 models calibrated on images of the model config's dataset; ONNX Runtime's and NNCF's static quantization.

The deploy configs ``configs/deploy/*-int8_*.py`` say
``backend_config.precision='int8'`` and hold the quantization settings in
``backend_config.quantization`` (:func:`quantization_settings`; ExecuTorch's
PT2E quantization is in :mod:`.executorch_xnnpack`). :func:`quantize_onnx` quantizes the fp32
export with ``onnxruntime.quantization.quantize_static`` (QDQ nodes, INT8
weights per output channel, activation ranges measured on the calibration
images) into ``end2end_int8.onnx`` beside it. Calibration images come from
the model config's training dataset by default (``calibration_split='train'``),
spread evenly over it, so that they never are the images the INT8 model is
evaluated on; ``'val'`` takes the validation dataset, as mmdeploy's own INT8
calibration does. They go through the same preprocessing as the export
(``task_processor.create_input``). An OpenVINO deploy config quantizes its
model with NNCF instead (:func:`quantize_openvino`: ``nncf.quantize`` on the
OpenVINO model, into ``end2end_int8.xml``). Quantization changes the outputs, so its
effect is measured as the metric of the config's test set
(:mod:`mobileone_mm.deploy.evaluate`), never assumed.
"""
import copy
import os
import os.path as osp
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch.nn as nn
from mmdeploy.apis import build_task_processor
from mmdeploy.utils import get_input_shape
from mmengine.config import Config
from mmengine.registry import DefaultScope
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

INT8_SUFFIX = '_int8'
CALIBRATION_METHODS = {'minmax': CalibrationMethod.MinMax, 'entropy': CalibrationMethod.Entropy,
                       'percentile': CalibrationMethod.Percentile}
# The dataloader of the model config each calibration split reads.
CALIBRATION_SPLITS = {'train': 'train_dataloader', 'val': 'val_dataloader'}
# NNCF's settings, each by the values a deploy config may give (nncf.quantize's arguments are built from them):
# - preset: symmetric INT8 activations ('performance') or asymmetric ones ('mixed'); weights symmetric per channel;
# - activation_range: the activations' range over the calibration images, their minimum and maximum ('minmax') or
#   NNCF's default, the means of each image's ('mean_minmax'), which clips what exceeds them;
# - bias_correction: NNCF's 'fast' one (its default), its 'full' one, or 'none'.
NNCF_SETTINGS = {'preset': ('performance', 'mixed'), 'activation_range': ('minmax', 'mean_minmax'),
                 'bias_correction': ('fast', 'full', 'none')}
# What a deploy config leaves unsaid, per backend: ExecuTorch's quantizer (XNNPACKQuantizer) chooses its observers.
# NNCF's: measured on the demo classifier (calibrated on its train split, judged on its 60 test images), NNCF's defaults
# ('performance', 'mean_minmax', 'fast') agreed with fp32 on 57 % of top-1 labels and these on 90 %, as ONNX Runtime's
# MinMax quantization did (docs/performance.md).
DEFAULT_QUANTIZATION = dict(num_images=64, per_channel=True, method='minmax', calibration_split='train')
DEFAULT_QUANTIZATION_OF_BACKEND = {'onnxruntime': DEFAULT_QUANTIZATION,
                                   'executorch': dict(num_images=64, per_channel=True, calibration_split='train',
                                                      fp32_modules=[]),
                                   'openvino': dict(num_images=64, calibration_split='train', preset='mixed',
                                                    activation_range='minmax', bias_correction='none')}


class CalibrationError(ValueError):
    """Raised for a calibration set that cannot calibrate the model."""


def quantization_settings(deploy_cfg: Config) -> Optional[dict]:
    """The deploy config's ``backend_config.quantization`` when its precision is ``'int8'``, else None.

    Raises:
        ValueError: For a precision other than fp32 or int8, a setting the
            backend does not know, an unknown calibration method or split.
        CalibrationError: For a number of calibration images below 1.
    """
    backend_config = deploy_cfg.get('backend_config', {})
    precision = backend_config.get('precision', 'fp32')
    if precision not in ('fp32', 'int8'):
        raise ValueError(f"backend_config.precision {precision!r} is not one of ['fp32', 'int8']")
    if precision == 'fp32':
        return None
    backend = backend_config.get('type', 'onnxruntime')
    defaults = DEFAULT_QUANTIZATION_OF_BACKEND[backend]
    unknown = sorted(set(backend_config.get('quantization', {})) - set(defaults))
    if unknown:
        raise ValueError(f'quantization setting {unknown[0]!r} is not one of {list(defaults)} (backend {backend!r})')
    settings = dict(defaults, **backend_config.get('quantization', {}))
    if not isinstance(settings['num_images'], int) or settings['num_images'] < 1:
        raise CalibrationError(f'the number of calibration images must be an int >= 1, not {settings["num_images"]!r}')
    if 'method' in settings and settings['method'] not in CALIBRATION_METHODS:
        raise ValueError(f'quantization method {settings["method"]!r} is not one of {list(CALIBRATION_METHODS)}')
    for key, allowed in NNCF_SETTINGS.items():
        if key in settings and settings[key] not in allowed:
            raise ValueError(f'quantization {key} {settings[key]!r} is not one of {list(allowed)}')
    if settings['calibration_split'] not in CALIBRATION_SPLITS:
        raise ValueError(f'quantization calibration_split {settings["calibration_split"]!r} is not one of '
                         f'{list(CALIBRATION_SPLITS)}')
    return settings


def int8_path(model_file: str) -> str:
    """``DIR/end2end.onnx`` -> ``DIR/end2end_int8.onnx``; the same for ``.pte`` and ``.xml``."""
    stem, extension = osp.splitext(model_file)
    return f'{stem}{INT8_SUFFIX}{extension}'


def calibration_images(deploy_cfg: Config, model_cfg: Config, split: str, num_images: int) -> List[str]:
    """The paths of ``num_images`` images spread evenly over the dataset of the model config's ``split``.

    Evenly spread, not the first ones: datasets are often ordered by class or scene.

    Args:
        deploy_cfg (Config): The deploy config.
        model_cfg (Config): The model config, whose ``train_dataloader`` or
            ``val_dataloader`` (:data:`CALIBRATION_SPLITS`) names the dataset.
        split (str): ``'train'`` or ``'val'``.
        num_images (int): How many; all of the dataset when it holds fewer.

    Raises:
        CalibrationError: If the config has no dataset of that split or an empty one.
    """
    dataloader = model_cfg.get(CALIBRATION_SPLITS[split])
    if not dataloader:
        raise CalibrationError(f'the model config has no {CALIBRATION_SPLITS[split]} to calibrate with')
    dataset_cfg = copy.deepcopy(dataloader.dataset)
    if 'dataset' not in dataset_cfg and 'datasets' not in dataset_cfg:  # not a wrapper: mmengine's BaseDataset
        dataset_cfg.serialize_data = False  # which fails on an empty dataset when it serializes it
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope):
        dataset = build_task_processor(model_cfg, deploy_cfg, 'cpu').build_dataset(dataset_cfg)
    if len(dataset) == 0:
        raise CalibrationError(f'the {split} dataset of the model config ({type(dataset).__name__}) is empty')
    count = min(num_images, len(dataset))
    return [dataset.get_data_info(index * len(dataset) // count)['img_path'] for index in range(count)]


def calibration_inputs(deploy_cfg: Config, model_cfg: Config, model: nn.Module, images: List[str],
                       device: str = 'cpu') -> List[np.ndarray]:
    """The network inputs of ``images`` (e.g. :func:`calibration_images`), one array per image.

    Each goes through the export's preprocessing (mmdeploy's test pipeline for
    the deploy config's input shape, then ``model.data_preprocessor``), as the
    exported graph receives it.
    """
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope):
        task_processor = build_task_processor(model_cfg, deploy_cfg, device)
        inputs = []
        for image in images:
            data, _ = task_processor.create_input(image, get_input_shape(deploy_cfg))
            inputs.append(model.data_preprocessor(data, False)['inputs'].cpu().numpy())
    return inputs


class ArrayReader(CalibrationDataReader):
    """Feeds arrays to ONNX Runtime's calibrator under the graph's input name."""

    def __init__(self, input_name: str, arrays: List[np.ndarray]) -> None:
        self.feeds: Iterator[Dict[str, np.ndarray]] = iter([{input_name: array} for array in arrays])

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        return next(self.feeds, None)


def quantize_onnx(onnx_file: str, inputs: List[np.ndarray], settings: dict, input_name: str = 'input') -> str:
    """Quantizes ``onnx_file`` statically to INT8 (QDQ) into :func:`int8_path` of it.

    Args:
        onnx_file (str): The fp32 ONNX model.
        inputs (list[np.ndarray]): Calibration inputs, e.g. from :func:`calibration_inputs`.
        settings (dict): :func:`quantization_settings`: ``per_channel`` (bool)
            and ``method`` (``'minmax'``, ``'entropy'`` or ``'percentile'``).
        input_name (str): The graph's input. Defaults to 'input', mmdeploy's name.

    Returns:
        str: The INT8 model's path; it is written only when quantization succeeds.
    """
    output = int8_path(onnx_file)
    prepared, partial = f'{output}.prepared.onnx', f'{output}.partial.onnx'
    try:
        quant_pre_process(onnx_file, prepared)  # shape inference and graph optimization, as ONNX Runtime advises
        quantize_static(prepared, partial, ArrayReader(input_name, inputs), quant_format=QuantFormat.QDQ,
                        per_channel=settings['per_channel'], activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CALIBRATION_METHODS[settings['method']])
        os.replace(partial, output)
    finally:
        for leftover in (prepared, partial):
            if osp.exists(leftover):
                os.remove(leftover)
    return output


def quantize_openvino(xml_file: str, inputs: List[np.ndarray], settings: dict) -> str:
    """Quantizes an OpenVINO model to INT8 with NNCF's post-training quantization into :func:`int8_path` of it.

    Args:
        xml_file (str): The fp32 OpenVINO model.
        inputs (list[np.ndarray]): Calibration inputs, e.g. from :func:`calibration_inputs`.
        settings (dict): :func:`quantization_settings` of an OpenVINO deploy
            config: ``preset``, ``activation_range`` and ``bias_correction``
            (:data:`NNCF_SETTINGS`).

    Returns:
        str: The INT8 model's path; it and its ``.bin`` are written only when quantization succeeds.
    """
    import nncf
    import openvino
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    from ..utils.openvino_model import save_openvino_model

    activation_range = {'minmax': RangeEstimatorParametersSet.MINMAX,
                        'mean_minmax': RangeEstimatorParametersSet.MEAN_MINMAX}[settings['activation_range']]
    advanced = nncf.AdvancedQuantizationParameters(activations_range_estimator_params=activation_range,
                                                   disable_bias_correction=settings['bias_correction'] == 'none')
    quantized = nncf.quantize(openvino.Core().read_model(xml_file), nncf.Dataset(inputs),
                              preset=nncf.QuantizationPreset(settings['preset']), subset_size=len(inputs),
                              fast_bias_correction=settings['bias_correction'] == 'fast', advanced_parameters=advanced)
    return save_openvino_model(quantized, int8_path(xml_file))
