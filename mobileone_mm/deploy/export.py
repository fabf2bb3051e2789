"""Deployment with mmdeploy: export to ONNX, convert for the backend, run it there, check against PyTorch.

:func:`deploy` does what mmdeploy's ``tools/deploy.py`` does for the ONNX
Runtime and OpenVINO backends, through mmdeploy's Python API (``torch2onnx``,
then ``to_backend``), and then checks the exported model. On the way it

- refuses a checkpoint that does not fit the model config (mmdeploy itself
  loads non-strictly and would export whatever it got),
- exports with the TorchScript exporter, as importing this package makes
  mmdeploy do (:mod:`mobileone_mm.compat.torchscript_onnx_export`),
- checks that mmdeploy's PyTorch model was re-parameterized (its
  ``build_pytorch_model`` reverts SyncBN, then calls
  ``model.backbone.switch_to_deploy()``),
- runs the backend's model through mmdeploy's backend model (OpenVINO's in
  f32, whatever precision the deploy config asks for; a reduced one is
  compared with PyTorch next, and judged by the test-set metric), and the checkpoint
  in PyTorch as the config builds it (the training form, unless the config
  says ``model.backbone.deploy=True``), on the same preprocessed image, and
  compares their predictions (:mod:`mobileone_mm.deploy.agreement`).
  Against the training form, the comparison covers the re-parameterization
  as well as the export.

The whole run happens in the model config's registry scope, and the
caller's default scope is back afterwards: mmdeploy switches the
process-wide ``DefaultScope`` (its codebases' ``register_all_modules`` and a
``'BaseTask'`` instance) and leaves it switched.
"""
import copy
import os.path as osp
from dataclasses import dataclass
from typing import List, Optional, Union

import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmdeploy.apis import build_task_processor, torch2onnx
from mmdeploy.apis.utils import to_backend
from mmdeploy.backend.sdk.export_info import export2SDK
from mmdeploy.utils import Backend, get_ir_config
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement

from ..models import MobileOneBlock
from ..utils.config import config_name
from ..utils.files import folder_removed_on_failure
from ..utils.openvino_model import (
    compile_openvino_model,
    computed_precision,
    inference_precision,
    with_inference_precision,
)
from .agreement import AGREEMENT_BY_TASK, Agreement
from .prediction import pytorch_prediction
from .quantize import calibration_images, calibration_inputs, quantization_settings, quantize_onnx, quantize_openvino
from .task_models import build_checkpoint_model, load_model_config

# mmdeploy's task for each framework, and the prefix of its deploy configs in configs/deploy/.
TASK_OF_FRAMEWORK = {'mmpretrain': ('Classification', 'classification'), 'mmdet': ('ObjectDetection', 'detection'),
                     'mmseg': ('Segmentation', 'segmentation')}
# The mmdeploy backends deploy() exports to, and how their deploy configs in configs/deploy/ are named.
MMDEPLOY_BACKENDS = {Backend.ONNXRUNTIME.value: 'onnxruntime_*.py', Backend.OPENVINO.value: 'openvino_*.py'}


class DeployError(RuntimeError):
    """Raised when the model mmdeploy exports is not the fused MobileOne model."""


@dataclass
class DeployResult:
    """What :func:`deploy` exported and measured.

    Attributes:
        backend_files (list[str]): The exported model files
            (``<work_dir>/end2end.onnx``; OpenVINO's ``end2end.xml``).
        num_fused_blocks (int): MobileOne blocks fused in the exported model.
        agreement (Agreement): The backend's predictions against PyTorch's
            (OpenVINO's in f32).
        pytorch_prediction (BaseDataElement): The prediction of the
            checkpoint's model as the config builds it, in PyTorch
            (``DataSample``, ``DetDataSample`` or ``SegDataSample``;
            segmentations at the network's output resolution).
        backend_prediction (BaseDataElement): The ONNX model's prediction.
        sdk_agreement (Agreement, optional): mmdeploy's SDK against PyTorch
            at the image's original size, when the SDK files were written.
        int8_file (str, optional): The INT8 model, for a deploy config of
            precision ``'int8'`` (:mod:`mobileone_mm.deploy.quantize`).
        calibration_images (list[str], optional): The images it was
            calibrated on.
        calibration_inputs (list[np.ndarray], optional): Their network inputs.
        delegate_calls (int, optional): The XNNPACK delegate calls of an
            ExecuTorch ``.pte`` (each runs a delegated subgraph).
        inference_precision (str, optional): What OpenVINO computes in with
            the deploy config's ``inference_precision`` (``'f32'`` or ``'bf16'``).
        precision_agreement (Agreement, optional): OpenVINO's predictions in
            that precision against PyTorch's, when it is not f32 (no limit holds
            them: the test-set metric judges a reduced precision).
    """
    backend_files: List[str]
    num_fused_blocks: int
    agreement: Agreement
    pytorch_prediction: BaseDataElement
    backend_prediction: BaseDataElement
    sdk_agreement: Optional[Agreement] = None
    int8_file: Optional[str] = None
    calibration_images: Optional[List[str]] = None
    calibration_inputs: Optional[List[np.ndarray]] = None
    delegate_calls: Optional[int] = None
    inference_precision: Optional[str] = None
    precision_agreement: Optional[Agreement] = None


def deploy(deploy_cfg: Union[str, Config],
           model_cfg: Union[str, Config],
           checkpoint: str,
           image: str,
           work_dir: str,
           device: str = 'cpu',
           test_image: Optional[str] = None,
           cfg_options: Optional[dict] = None,
           dump_info: bool = False) -> DeployResult:
    """Exports a checkpoint with mmdeploy to ONNX Runtime or OpenVINO and checks it there.

    Args:
        deploy_cfg (str | Config): An mmdeploy deploy config for ONNX Runtime
            or OpenVINO (see ``configs/deploy/``).
        model_cfg (str | Config): The model config of mmpretrain, mmdet or
            mmseg; the backbone's pretrained ``init_cfg`` is ignored.
        checkpoint (str): The checkpoint, in the training form or fused (with
            ``model.backbone.deploy=True`` in ``model_cfg``).
        image (str): The image the model is exported with.
        work_dir (str): Where the ONNX file goes.
        device (str): Device of PyTorch and the backend. Defaults to 'cpu'.
        test_image (str, optional): The image of the comparison. Defaults to
            ``image``.
        cfg_options (dict, optional): Overrides of the model config, e.g.
            ``{'model.backbone.deploy': True}`` for a fused checkpoint.
            Defaults to None.
        dump_info (bool): Also write the SDK's ``deploy.json``,
            ``pipeline.json`` and ``detail.json`` beside the ONNX file, as
            mmdeploy's ``tools/deploy.py --dump-info`` does, and check the
            SDK's prediction too. Defaults to False.

    Returns:
        DeployResult: The backend's model file, the number of fused blocks,
        the agreement of the predictions (check ``agreement.passed``) and the
        predictions; for an INT8 deploy config also the INT8 model beside
        the fp32 one (``end2end_int8.onnx`` by ONNX Runtime's quantization,
        ``end2end_int8.xml`` by NNCF's), calibrated on images of the model
        config's training set unless its quantization settings say
        otherwise (:mod:`mobileone_mm.deploy.quantize`).

    Raises:
        ValueError: If the deploy config's backend is not ONNX Runtime or
            OpenVINO, SDK files are asked of OpenVINO, its
            task is not the model config's (classification for mmpretrain,
            detection for mmdet, segmentation for mmseg), its quantization
            settings are not valid (:class:`CalibrationError` for the
            calibration set), or an image is not an image.
        FileNotFoundError: If the checkpoint or an image does not exist.
        CheckpointMismatchError: If the checkpoint does not fit the config.
        DeployError: If the exported model was not re-parameterized.

    A work dir that this call creates is removed again when it fails.
    """
    deploy_cfg = Config.fromfile(deploy_cfg) if isinstance(deploy_cfg, str) else deploy_cfg
    model_cfg = load_model_config(model_cfg, cfg_options)
    check_deploy_config(deploy_cfg, model_cfg)
    backend = deploy_cfg.backend_config.type
    is_openvino = backend == Backend.OPENVINO.value
    precision = inference_precision(deploy_cfg) if is_openvino else None
    if is_openvino and dump_info:
        raise ValueError('--dump-info: the SDK files are for ONNX Runtime; the mmdeploy SDK wheel (mmdeploy-runtime) '
                         'runs no OpenVINO model')
    quantization = quantization_settings(deploy_cfg)
    reference = build_checkpoint_model(model_cfg, checkpoint, device)
    for path in {image, test_image or image}:
        check_image(path)

    with folder_removed_on_failure(work_dir):
        onnx_file = osp.join(work_dir, get_ir_config(deploy_cfg)['save_file'])
        with DefaultScope.overwrite_default_scope(model_cfg.default_scope):
            torch2onnx(image, work_dir, osp.basename(onnx_file), deploy_cfg, model_cfg, checkpoint, device)
            backend_files = to_backend(backend, [onnx_file], work_dir=work_dir, deploy_cfg=deploy_cfg, device=device)
            if dump_info:
                # a copy: export2SDK pops keys of the model config (e.g. its head's type)
                export2SDK(copy.deepcopy(deploy_cfg), copy.deepcopy(model_cfg), work_dir, pth=checkpoint,
                           device=device)
        checked_cfg = with_inference_precision(deploy_cfg, 'f32') if is_openvino else deploy_cfg
        result = check_backend_files(checked_cfg, model_cfg, checkpoint, backend_files, test_image or image, device,
                                     reference)
        if is_openvino:
            result.inference_precision = computed_precision(compile_openvino_model(backend_files[0], precision))
            if result.inference_precision != 'f32' and quantization is None:
                result.precision_agreement = check_backend_files(deploy_cfg, model_cfg, checkpoint, backend_files,
                                                                 test_image or image, device, reference).agreement
        if dump_info:
            from .sdk import check_sdk  # mmdeploy_runtime loads its ONNX Runtime: only when asked for
            result.sdk_agreement = check_sdk(work_dir, deploy_cfg, model_cfg, checkpoint, test_image or image, device,
                                             reference)
        if quantization is not None:
            result.calibration_images = calibration_images(deploy_cfg, model_cfg, quantization['calibration_split'],
                                                           quantization['num_images'])
            result.calibration_inputs = calibration_inputs(deploy_cfg, model_cfg, reference,
                                                           result.calibration_images, device)
            quantize = quantize_openvino if is_openvino else quantize_onnx
            result.int8_file = quantize(backend_files[0], result.calibration_inputs, quantization)
    return result


def check_backend_files(deploy_cfg: Config, model_cfg: Config, checkpoint: str, backend_files: List[str],
                        image: str, device: str = 'cpu', reference: Optional[nn.Module] = None) -> DeployResult:
    """Checks an exported model: re-parameterized, and predicting on ``image`` what PyTorch predicts.

    This is :func:`deploy`'s check, for a model that mmdeploy exported
    (e.g. with its own ``tools/deploy.py``).

    Args:
        deploy_cfg (Config): The deploy config it was exported with.
        model_cfg (Config): The model config, as :func:`load_model_config` reads it.
        checkpoint (str): The checkpoint it was exported from.
        backend_files (list[str]): The exported model files.
        image (str): The image of the comparison.
        device (str): Device of PyTorch and the backend. Defaults to 'cpu'.
        reference (nn.Module, optional): The checkpoint's model as the
            config builds it; built and loaded here when None.

    Returns:
        DeployResult: As :func:`deploy` returns it.
    """
    task = check_deploy_config(deploy_cfg, model_cfg)
    reference = build_checkpoint_model(model_cfg, checkpoint, device) if reference is None else reference
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope):
        task_processor = build_task_processor(model_cfg, deploy_cfg, device)
        num_fused_blocks = check_reparameterized(task_processor.build_pytorch_model(checkpoint))
        backend_model = task_processor.build_backend_model(
            backend_files, data_preprocessor_updater=task_processor.update_data_preprocessor)
        data, expected = pytorch_prediction(reference, task_processor, deploy_cfg, image,
                                            at_network_size=task == 'Segmentation')
        with torch.no_grad():
            actual = backend_model(data['inputs'], copy.deepcopy(data['data_samples']), mode='predict')[0]
    return DeployResult(backend_files, num_fused_blocks, AGREEMENT_BY_TASK[task](expected, actual), expected, actual)


def check_deploy_config(deploy_cfg: Config, model_cfg: Config) -> str:
    """Checks that the deploy config exports to ONNX Runtime or OpenVINO the task of the model config's framework.

    Returns:
        str: mmdeploy's task name, e.g. ``'ObjectDetection'``.

    Raises:
        ValueError: Naming the backend or task found and what is allowed.
    """
    backend = deploy_cfg.get('backend_config', {}).get('type')
    if backend not in MMDEPLOY_BACKENDS:
        raise ValueError(f'{config_name(deploy_cfg)}: backend {backend!r} is not supported; the deploy configs '
                         f'here are for {list(MMDEPLOY_BACKENDS)} (configs/deploy/*_onnxruntime_*.py, '
                         '*_openvino_*.py) and ExecuTorch (*_executorch-xnnpack_*.py)')
    return check_deploy_task(deploy_cfg, model_cfg, MMDEPLOY_BACKENDS[backend])


def check_deploy_task(deploy_cfg: Config, model_cfg: Config, config_pattern: str) -> str:
    """Checks that the deploy config's task is the model config's framework's; returns mmdeploy's task name.

    Args:
        config_pattern (str): The end of the file names of the backend's
            deploy configs, for the message (e.g. ``'onnxruntime_*.py'``).

    Raises:
        ValueError: Naming the task found and the deploy configs to use.
    """
    task = deploy_cfg.get('codebase_config', {}).get('task')
    expected, prefix = TASK_OF_FRAMEWORK[model_cfg.default_scope]
    if task != expected:
        raise ValueError(f'{config_name(deploy_cfg)} exports the task {task!r}, but {config_name(model_cfg)} is an '
                         f'{model_cfg.default_scope} model ({expected!r}): use configs/deploy/'
                         f'{prefix}_{config_pattern}')
    return task


def check_image(path: str) -> None:
    """Refuses a missing file or one that mmcv cannot decode as an image, naming it."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image {path} does not exist')
    if mmcv.imread(path) is None:
        raise ValueError(f'{path} is not an image mmcv can read (e.g. JPEG or PNG)')


def check_reparameterized(model: nn.Module) -> int:
    """Checks that every MobileOne block of ``model`` is fused and no SyncBN is left.

    Returns:
        int: The number of fused blocks.

    Raises:
        DeployError: Naming what is not as deployment needs it.
    """
    blocks = {name: module for name, module in model.named_modules() if isinstance(module, MobileOneBlock)}
    if not blocks:
        raise DeployError(f'{type(model).__name__} has no MobileOne block')
    unfused = [name for name, block in blocks.items() if not block.deploy]
    if unfused:
        raise DeployError(f'{len(unfused)} of {len(blocks)} MobileOne blocks are not fused, e.g. {unfused[0]}')
    synced = [name for name, module in model.named_modules() if isinstance(module, nn.SyncBatchNorm)]
    if synced:
        raise DeployError(f'SyncBatchNorm left in the model, e.g. {synced[0]}')
    return len(blocks)
