"""ExecuTorch export for phones: the fused task model lowered to XNNPACK in a ``.pte``, checked against PyTorch.

XNNPACK is ExecuTorch's CPU delegate on Android and iOS, and the same kernels
run on x86, so the ``.pte`` is checked here number for number. mmdeploy has no
ExecuTorch backend; the deploy configs (``configs/deploy/*_executorch-xnnpack_*.py``)
keep mmdeploy's layout (``codebase_config``, ``onnx_config`` for the input
shape) with ``backend_config=dict(type='executorch')``, and :func:`deploy_pte`
does what :func:`~mobileone_mm.deploy.export.deploy` does for ONNX Runtime:

- the checkpoint's model is fused (every MobileOne block, checked), exported
  with ``torch.export`` and lowered with the XNNPACK partitioner; a
  convolution left outside XNNPACK fails the export;
- the graph takes the preprocessed image (mean and std applied, RGB, NCHW
  float32, the size of the export image: an app normalizes as the config's
  ``data_preprocessor`` does) and returns the model's raw outputs
  (``mode='tensor'``): a classifier's logits, a dense detector's class and box
  maps per level (class maps of every level first), a segmentor's logits at
  the network's resolution;
- what comes after is the frameworks' own code on those outputs
  (:func:`predict_from_outputs`): softmax and top-k (mmpretrain), decoding
  and NMS (mmdet's ``predict_by_feat``; NMS is no XNNPACK op), resizing and
  argmax (mmseg), so the ``.pte``'s predictions are data samples that the
  agreement checks of :mod:`.agreement` compare with PyTorch's;
- an INT8 deploy config (``*_executorch-xnnpack-int8_*.py``) adds
  ``end2end_int8.pte``: PT2E quantization with ExecuTorch's
  ``XNNPACKQuantizer`` (:func:`quantize_for_xnnpack`), calibrated as the
  ONNX Runtime INT8 path calibrates (:mod:`.quantize`: images of the training
  set by default), each image resized to the ``.pte``'s input size, and
  judged by the test-set metric (:func:`~.evaluate.compare_pte_precisions`).
"""
import copy
import os.path as osp
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmdeploy.apis import build_task_processor
from mmdeploy.utils import get_ir_config
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement

from ..testing.equivalence import fused_copy
from ..utils.config import config_name
from ..utils.files import folder_removed_on_failure, write_atomically
from .agreement import AGREEMENT_BY_TASK
from .export import DeployError, DeployResult, check_deploy_task, check_image, check_reparameterized
from .prediction import pytorch_prediction
from .quantize import calibration_images, calibration_inputs, int8_path, quantization_settings
from .task_models import TensorOutputs, build_checkpoint_model, load_model_config

BACKEND = 'executorch'


def export_pte(program: nn.Module, inputs: torch.Tensor, path: str) -> int:
    """Exports a module to an XNNPACK ``.pte`` at ``path`` (written all or nothing).

    Args:
        program (nn.Module): A module in eval mode from the preprocessed batch
            to a tuple of tensors: :class:`TensorOutputs` of a fused task
            model, or its quantized graph (:func:`quantize_for_xnnpack`).
        inputs (torch.Tensor): A preprocessed batch of the input shape.
        path (str): The ``.pte`` file.

    Returns:
        int: The number of XNNPACK delegate calls in the program.

    Raises:
        DeployError: If a convolution is left to ExecuTorch's portable kernels.
    """
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    exported = torch.export.export(program, (inputs, ))
    lowered = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    calls = [node for node in lowered.exported_program().graph_module.graph.nodes if node.op == 'call_function']
    delegated = sum('executorch_call_delegate' in str(node.target) for node in calls)
    convolutions = [node.name for node in calls if 'convolution' in str(node.target)]
    if convolutions:
        raise DeployError(f'{len(convolutions)} convolutions were not delegated to XNNPACK, e.g. {convolutions[0]}')
    program = lowered.to_executorch().buffer
    write_atomically(path, lambda file: file.write(program))
    return delegated


def quantize_for_xnnpack(program: TensorOutputs, inputs: torch.Tensor, calibration: Sequence[torch.Tensor],
                         per_channel: bool = True, fp32_modules: Sequence[str] = ()) -> nn.Module:
    """A fused model's flat outputs quantized to INT8 by PT2E with ExecuTorch's ``XNNPACKQuantizer``.

    The graph of ``program`` is captured with ``torch.export``,
    observed on the calibration inputs (torchao's ``prepare_pt2e``: the
    quantizer's symmetric INT8 config, weights per output channel when
    ``per_channel``, activation ranges from histograms) and converted to
    quantize/dequantize pairs, which the XNNPACK partitioner lowers to INT8
    kernels (:func:`export_pte`).

    Args:
        program (TensorOutputs): The model, every MobileOne block fused, in eval mode.
        inputs (torch.Tensor): A preprocessed batch of the input shape.
        calibration (Sequence[Tensor]): Calibration inputs of that shape.
        per_channel (bool): Weights quantized per output channel. Defaults to True.
        fp32_modules (Sequence[str]): Children of the model left in fp32
            (e.g. ``'bbox_head'``); the others are quantized. Defaults to
            none: all of it.

    Returns:
        nn.Module: The quantized graph, from the batch to the flat outputs.

    Raises:
        ValueError: For a name in ``fp32_modules`` that is no child of the model.
    """
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    children = [name for name, _ in program.model.named_children()]
    unknown = sorted(set(fp32_modules) - set(children))
    if unknown:
        raise ValueError(f'quantization fp32_modules {unknown[0]!r} is not one of the model\'s {children}')
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=per_channel))
    quantizer.set_filter_function(lambda node: not in_modules(node, [f'model.{name}' for name in fp32_modules]))
    graph = torch.export.export(program, (inputs, )).module()
    observed = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in calibration:
            observed(batch)
    return convert_pt2e(observed)


def in_modules(node: torch.fx.Node, names: Sequence[str]) -> bool:
    """Whether an exported graph's node runs inside one of the modules ``names`` (or one of theirs).

    By prefix of the module paths in its ``nn_module_stack``, not by name as
    torchao's ``get_module_name_filter``: a module whose ``forward`` is called
    directly (mmdet's detectors call ``self.bbox_head.forward``) is not on
    the stack, only its children are.
    """
    paths = [path for path, _ in node.meta.get('nn_module_stack', {}).values()]
    return any(path == name or path.startswith(f'{name}.') for path in paths for name in names)


def check_loads(path: str, inputs: torch.Tensor) -> None:
    """Runs the ``.pte`` once: XNNPACK checks some operator parameters only when the runtime loads the program.

    Raises:
        DeployError: If ExecuTorch's runtime cannot load or run it.
    """
    try:
        PteModel(path)(inputs)
    except RuntimeError as error:
        raise DeployError(f"ExecuTorch's runtime cannot run {path} ({error}); its log above names the operator")


class PteModel:
    """A ``.pte`` run by ExecuTorch's runtime: a preprocessed batch in, the model's raw outputs out.

    Args:
        path (str): The ``.pte`` file.
    """

    def __init__(self, path: str) -> None:
        from executorch.runtime import Runtime

        self.method = Runtime.get().load_program(path).load_method('forward')

    def __call__(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        return list(self.method.execute([inputs.contiguous()]))


def executorch_threads() -> int:
    """The threads of ExecuTorch's runtime (its thread pool: one per core unless the app sets it)."""
    from executorch.extension.pybindings.portable_lib import _threadpool_get_thread_count

    return _threadpool_get_thread_count()


def predict_from_outputs(model: nn.Module, outputs: Sequence[torch.Tensor],
                         data_samples: List[BaseDataElement]) -> List[BaseDataElement]:
    """The predictions the task model makes from its raw outputs, by the frameworks' own post-processing.

    Args:
        model (nn.Module): The task model the outputs are of (its heads decode them).
        outputs (Sequence[Tensor]): The flat raw outputs (:class:`TensorOutputs`).
        data_samples (list): The batch's data samples, with their metainfo.
    """
    data_samples = copy.deepcopy(data_samples)
    if hasattr(model, 'bbox_head'):  # mmdet's dense detectors: class maps of every level, then box maps
        num_levels = len(outputs) // 2
        results = model.bbox_head.predict_by_feat(list(outputs[:num_levels]), list(outputs[num_levels:]),
                                                  batch_img_metas=[s.metainfo for s in data_samples], rescale=True)
        return model.add_pred_to_datasample(data_samples, results)
    if hasattr(model, 'decode_head'):  # mmseg: logits at the network's resolution, resized as its head does
        logits = model.decode_head.predict_by_feat(outputs[0], [s.metainfo for s in data_samples])
        return model.postprocess_result(logits, data_samples)
    return model.head._get_predictions(outputs[0], data_samples)  # mmpretrain: softmax scores and labels


def deploy_pte(deploy_cfg: Union[str, Config], model_cfg: Union[str, Config], checkpoint: str, image: str,
               work_dir: str, test_image: Optional[str] = None, cfg_options: Optional[dict] = None) -> DeployResult:
    """Exports ``checkpoint`` to ``work_dir/end2end.pte`` (the config's ``save_file``), checked against PyTorch.

    The ``.pte``'s predictions on the test image are compared with the
    checkpoint's in PyTorch under the rules of :mod:`.agreement`.

    Args:
        deploy_cfg (str | Config): An ExecuTorch deploy config of configs/deploy/.
        model_cfg (str | Config): The model config of mmpretrain, mmdet or mmseg.
        checkpoint (str): The checkpoint (training or fused form, as the config builds it).
        image (str): The image exported with (its preprocessed size is the ``.pte``'s input size).
        work_dir (str): Where the ``.pte`` goes; made and, if made here, removed again on failure.
        test_image (str, optional): The image of the check. Defaults to ``image``.
        cfg_options (dict, optional): Overrides of the model config.

    Returns:
        DeployResult: The ``.pte``, the fused blocks, its XNNPACK delegate
        calls and the agreement with PyTorch; for an INT8 deploy config also
        ``end2end_int8.pte`` (:func:`quantize_for_xnnpack`), calibrated on
        images of the model config's training set unless its quantization
        settings say otherwise, at the ``.pte``'s input size.

    Raises:
        ValueError: For a deploy config of another backend or task, or bad
            quantization settings (:class:`CalibrationError` for the
            calibration set).
        DeployError: If the exported model is not fused or not delegated.
    """
    deploy_cfg = Config.fromfile(deploy_cfg) if isinstance(deploy_cfg, str) else deploy_cfg
    model_cfg = load_model_config(model_cfg, cfg_options)
    task = check_executorch_config(deploy_cfg, model_cfg)
    quantization = quantization_settings(deploy_cfg)
    reference = build_checkpoint_model(model_cfg, checkpoint)
    for path in {image, test_image or image}:
        check_image(path)
    fused = fused_copy(reference)
    num_fused_blocks = check_reparameterized(fused)
    with folder_removed_on_failure(work_dir), DefaultScope.overwrite_default_scope(model_cfg.default_scope):
        pte_file = osp.join(work_dir, get_ir_config(deploy_cfg)['save_file'])
        # mmdeploy prepares the input as for its ONNX Runtime backend: every runtime is checked on the same input
        task_processor = build_task_processor(model_cfg, as_onnxruntime_config(deploy_cfg), 'cpu')
        data, expected = pytorch_prediction(reference, task_processor, deploy_cfg, test_image or image,
                                            at_network_size=task == 'Segmentation')
        export_inputs = data['inputs'] if test_image in (None, image) else \
            pytorch_prediction(reference, task_processor, deploy_cfg, image)[0]['inputs']
        program = TensorOutputs(fused).eval()
        delegate_calls = export_pte(program, export_inputs, pte_file)
        with torch.no_grad():
            actual = predict_from_outputs(reference, PteModel(pte_file)(data['inputs']), data['data_samples'])[0]
        result = DeployResult([pte_file], num_fused_blocks, AGREEMENT_BY_TASK[task](expected, actual), expected,
                              actual, delegate_calls=delegate_calls)
        if quantization is not None:
            static_cfg = as_onnxruntime_config(deploy_cfg, input_size=export_inputs.shape[-2:])
            result.calibration_images = calibration_images(static_cfg, model_cfg, quantization['calibration_split'],
                                                           quantization['num_images'])
            result.calibration_inputs = calibration_inputs(static_cfg, model_cfg, reference, result.calibration_images)
            calibration = [torch.from_numpy(array) for array in result.calibration_inputs]
            quantized = quantize_for_xnnpack(program, export_inputs, calibration,
                                             quantization['per_channel'], quantization['fp32_modules'])
            result.int8_file = int8_path(pte_file)
            export_pte(quantized, export_inputs, result.int8_file)
            check_loads(result.int8_file, export_inputs)
    return result


def is_executorch_config(deploy_cfg: Config) -> bool:
    return deploy_cfg.get('backend_config', {}).get('type') == BACKEND


def check_executorch_config(deploy_cfg: Config, model_cfg: Config) -> str:
    """Checks that the deploy config exports the model config's task to ExecuTorch; returns mmdeploy's task name.

    Raises:
        ValueError: Naming the backend or task found and what is allowed.
    """
    if not is_executorch_config(deploy_cfg):
        raise ValueError(f'{config_name(deploy_cfg)} is not an ExecuTorch deploy config (backend_config.type '
                         f'{BACKEND!r}, configs/deploy/*_executorch-xnnpack_*.py)')
    return check_deploy_task(deploy_cfg, model_cfg, 'executorch-xnnpack_static.py')


def as_onnxruntime_config(deploy_cfg: Config, input_size: Optional[Sequence[int]] = None) -> Config:
    """The deploy config as mmdeploy's task processors take it (they know no ExecuTorch backend).

    Args:
        deploy_cfg (Config): An ExecuTorch deploy config.
        input_size (Sequence[int], optional): The ``.pte``'s input (height,
            width): mmdeploy then resizes every image to it, as for a static
            ONNX model. Defaults to None (the config's input shape).
    """
    config = copy.deepcopy(deploy_cfg)
    config.backend_config = dict(type='onnxruntime')
    if input_size is not None:
        config.onnx_config.input_shape = [int(input_size[1]), int(input_size[0])]  # mmdeploy's (width, height)
    return config
