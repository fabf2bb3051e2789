"""A deployed model's metric on the model config's test set, and its latency, beside PyTorch's.

:func:`evaluate_backend` runs an exported model over the config's test
dataloader as mmdeploy's own ``tools/test.py`` does (mmdeploy's backend model
in mmengine's test loop with the config's evaluator), so an INT8 model is
judged by the same metric as its fp32 export and the PyTorch checkpoint
(:func:`evaluate_pytorch`). A ``.pte`` takes one input size (static), so
:func:`compare_pte_precisions` resizes each test image to it, as mmdeploy
prepares images for a static model, and evaluates PyTorch on those same inputs.
"""
import copy
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import mmcv
import numpy as np
import torch
from mmdeploy.apis import build_task_processor
from mmdeploy.codebase.base.runner import DeployTestRunner
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from tqdm import tqdm

from ..engine.runner import build_runner, configure_testing
from ..utils.logging import quiet_mmengine_logger
from ..utils.openvino_model import (
    compile_openvino_model,
    computed_precision,
    inference_precision,
    with_inference_precision,
)
from ..utils.timing import Timing, time_interleaved
from .executorch_xnnpack import PteModel, predict_from_outputs
from .export import DeployError
from .onnxruntime_session import open_session
from .task_models import TensorOutputs, build_checkpoint_model, read_fitting_checkpoint

# The metric each framework's configs evaluate first, for the one-line tables.
MAIN_METRIC = {'mmpretrain': 'accuracy/top1', 'mmdet': 'coco/bbox_mAP', 'mmseg': 'mIoU'}


@dataclass
class PrecisionRow:
    """One model's metrics on the test set and its latency on one input.

    Attributes:
        name (str): e.g. ``'ONNX Runtime INT8'``.
        metrics (dict[str, float]): The config's evaluator's metrics.
        latency (Timing, optional): The runtime's time for one input; None for PyTorch.
    """
    name: str
    metrics: Dict[str, float]
    latency: Optional[Timing] = None


def compare_precisions(deploy_cfg: Config, model_cfg: Config, checkpoint: str, fp32_file: str, int8_file: str,
                       timing_input: np.ndarray, work_dir: str, threads: int, device: str = 'cpu',
                       with_sdk: bool = False) -> List[PrecisionRow]:
    """The checkpoint in PyTorch, its fp32 export and its INT8 model: metrics on the test set, latencies.

    The two ONNX models are timed in the same run, interleaved, on
    ``timing_input``; with ``with_sdk`` the SDK's files in the fp32 model's
    folder are evaluated too (:func:`evaluate_sdk`).
    """
    latency = time_onnx_models({'fp32': fp32_file, 'int8': int8_file}, timing_input, threads)
    sdk = [PrecisionRow('mmdeploy SDK fp32', evaluate_sdk(osp.dirname(fp32_file), model_cfg,
                                                         deploy_cfg.codebase_config.task, device))] if with_sdk else []
    return [
        PrecisionRow('PyTorch fp32', evaluate_pytorch(model_cfg, checkpoint, osp.join(work_dir, 'test_pytorch'))),
        PrecisionRow('ONNX Runtime fp32', evaluate_backend(deploy_cfg, model_cfg, [fp32_file],
                                                           osp.join(work_dir, 'test_fp32'), device), latency['fp32']),
        PrecisionRow('ONNX Runtime INT8', evaluate_backend(deploy_cfg, model_cfg, [int8_file],
                                                           osp.join(work_dir, 'test_int8'), device), latency['int8']),
    ] + sdk


def compare_openvino_precisions(deploy_cfg: Config, model_cfg: Config, checkpoint: str, fp32_file: str,
                                int8_file: Optional[str], timing_input: np.ndarray, work_dir: str,
                                threads: int) -> List[PrecisionRow]:
    """The checkpoint in PyTorch and its OpenVINO model in f32, then in the reduced precision the config asks for.

    That is the INT8 model when ``int8_file`` is given (what is not quantized
    computing in the deploy config's ``inference_precision``), else the fp32
    model in that precision (e.g. bf16). Both OpenVINO models are timed in the
    same run, interleaved, on ``timing_input``, with ``threads`` threads.
    """
    precision = inference_precision(deploy_cfg)
    models = {'f32': (fp32_file, 'f32'), 'reduced': (int8_file or fp32_file, precision)}
    compiled = {name: compile_openvino_model(path, model_precision, threads)
                for name, (path, model_precision) in models.items()}
    ran = computed_precision(compiled['reduced'])
    int8 = 'OpenVINO INT8' + ('' if ran == 'f32' else f' ({ran} elsewhere)')
    names = {'f32': 'OpenVINO f32', 'reduced': int8 if int8_file else f'OpenVINO {ran}'}
    latency = time_openvino_models(compiled, timing_input)
    rows = [PrecisionRow('PyTorch fp32', evaluate_pytorch(model_cfg, checkpoint, osp.join(work_dir, 'test_pytorch')))]
    for name, (path, model_precision) in models.items():
        metrics = evaluate_backend(with_inference_precision(deploy_cfg, model_precision), model_cfg, [path],
                                   osp.join(work_dir, f'test_{name}'))
        rows.append(PrecisionRow(names[name], metrics, latency[name]))
    return rows


def evaluate_pytorch(model_cfg: Config, checkpoint: str, work_dir: str) -> Dict[str, float]:
    """The checkpoint's metrics on the config's test set, as ``tools/test.py`` computes them."""
    cfg = configure_testing(copy.deepcopy(model_cfg), checkpoint)
    cfg.work_dir, cfg.log_level = work_dir, 'WARNING'  # the caller prints the metrics
    runner = build_runner(cfg)
    read_fitting_checkpoint(runner.model, checkpoint)
    with quiet_mmengine_logger():  # the runner's: mmseg's metric logs a table of every class at INFO
        return runner.test()


def evaluate_backend(deploy_cfg: Config, model_cfg: Config, backend_files: List[str], work_dir: str,
                     device: str = 'cpu') -> Dict[str, float]:
    """An exported model's metrics on the config's test set, as mmdeploy's ``tools/test.py`` computes them.

    mmdeploy's own test runner, built as its ``build_test_runner`` builds it, but logging warnings only.
    """
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope):
        task_processor = build_task_processor(model_cfg, deploy_cfg, device)
        model = task_processor.build_backend_model(
            backend_files, data_preprocessor_updater=task_processor.update_data_preprocessor)
        runner = DeployTestRunner(model=model, work_dir=work_dir, device=device, log_level='WARNING',
                                  default_hooks=model_cfg.default_hooks, default_scope=model_cfg.default_scope,
                                  test_dataloader=task_processor.build_dataloader(model_cfg.test_dataloader),
                                  test_cfg=model_cfg.test_cfg, test_evaluator=model_cfg.test_evaluator)
        with quiet_mmengine_logger():
            return runner.test()


def evaluate_sdk(model_dir: str, model_cfg: Config, task: str, device: str = 'cpu') -> Dict[str, float]:
    """The SDK's metrics on the config's test set: each image read from disk, predicted at its original size.

    The SDK preprocesses and postprocesses itself (:class:`~mobileone_mm.deploy.sdk.SDKModel`); the config's
    dataloader supplies only the image paths and the ground truth its evaluator compares with.
    """
    from .sdk import PREDICTION_FIELDS, SDKModel  # mmdeploy_runtime loads its ONNX Runtime: only when asked for
    sdk = SDKModel(model_dir, task, device)
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope), quiet_mmengine_logger():
        dataloader = Runner.build_dataloader(copy.deepcopy(model_cfg.test_dataloader))
        evaluator = Evaluator(copy.deepcopy(model_cfg.test_evaluator))
        evaluator.dataset_meta = dataloader.dataset.metainfo
        for batch in dataloader:
            samples = batch['data_samples']
            for sample in samples:
                predicted = sdk(mmcv.imread(sample.img_path))
                for key in PREDICTION_FIELDS[task]:
                    setattr(sample, key, getattr(predicted, key))
            evaluator.process(data_samples=samples, data_batch=batch)
        return evaluator.evaluate(len(dataloader.dataset))


def compare_pte_precisions(model_cfg: Config, checkpoint: str, fp32_file: str, int8_file: str,
                           timing_input: torch.Tensor) -> List[PrecisionRow]:
    """The checkpoint in PyTorch and its fp32 and INT8 ``.pte``: metrics on the test set, latencies.

    All three predict from the same inputs, the test images resized to the
    ``.pte``'s input size (:func:`evaluate_at_input_size`); the two ``.pte``
    are timed in ExecuTorch's runtime in interleaved rounds on ``timing_input``
    (a preprocessed batch of one).
    """
    reference = build_checkpoint_model(model_cfg, checkpoint)
    pte = {'fp32': PteModel(fp32_file), 'int8': PteModel(int8_file)}
    seconds = time_interleaved({name: lambda model=model: model(timing_input) for name, model in pte.items()},
                               torch.device('cpu'), warmup=3, repeats=20)
    names = {'PyTorch fp32': None, 'ExecuTorch fp32': 'fp32', 'ExecuTorch INT8': 'int8'}
    predictors = dict(zip(names, [TensorOutputs(reference).eval(), pte['fp32'], pte['int8']]))
    metrics = evaluate_at_input_size(model_cfg, reference, predictors, timing_input.shape[-2:])
    return [PrecisionRow(name, metrics[name], Timing.from_seconds(seconds[key]) if key else None)
            for name, key in names.items()]


def evaluate_at_input_size(model_cfg: Config, model: torch.nn.Module,
                           predictors: Dict[str, Callable[[torch.Tensor], Sequence[torch.Tensor]]],
                           input_size: Sequence[int]) -> Dict[str, Dict[str, float]]:
    """Metrics on the config's test set of models that take one input size, each image resized to it.

    The test pipeline's ``Resize`` resizes to ``input_size`` without keeping
    the aspect ratio, as mmdeploy's ``create_input`` does for a static input
    shape; predictions are mapped back to each image's original size by the
    frameworks' post-processing (:func:`predict_from_outputs`).

    Args:
        model_cfg (Config): The model config (its test dataloader and evaluator).
        model (nn.Module): Its model: the data preprocessor and the heads' post-processing.
        predictors (dict[str, Callable]): By name, from a preprocessed batch of
            one to the model's flat raw outputs (:class:`TensorOutputs`).
        input_size (Sequence[int]): The (height, width) they take.

    Returns:
        dict[str, dict[str, float]]: Each predictor's metrics.

    Raises:
        DeployError: If the test pipeline makes inputs of another size.
    """
    dataloader_cfg = copy.deepcopy(model_cfg.test_dataloader)
    for transform in dataloader_cfg.dataset.pipeline:
        if transform['type'].split('.')[-1] == 'Resize':
            transform.update(scale=(int(input_size[1]), int(input_size[0])), keep_ratio=False)
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope), quiet_mmengine_logger(), torch.no_grad():
        dataloader = Runner.build_dataloader(dataloader_cfg)
        evaluators = {name: Evaluator(copy.deepcopy(model_cfg.test_evaluator)) for name in predictors}
        for evaluator in evaluators.values():
            evaluator.dataset_meta = dataloader.dataset.metainfo
        for batch in tqdm(dataloader, desc='test set', leave=False):
            data = model.data_preprocessor(batch, False)
            if tuple(data['inputs'].shape[-2:]) != tuple(input_size):
                raise DeployError(f'the test pipeline makes inputs of {tuple(data["inputs"].shape[-2:])}, the model '
                                  f'takes {tuple(input_size)}')
            for index, sample in enumerate(data['data_samples']):
                for name, predictor in predictors.items():
                    predicted = predict_from_outputs(model, predictor(data['inputs'][index:index + 1]), [sample])
                    evaluators[name].process(data_samples=predicted, data_batch=batch)
        return {name: evaluator.evaluate(len(dataloader.dataset)) for name, evaluator in evaluators.items()}


def time_openvino_models(compiled: Dict[str, object], inputs: np.ndarray, repeats: int = 20) -> Dict[str, Timing]:
    """Times compiled OpenVINO models on one input in interleaved rounds.

    Args:
        compiled (dict): By name, models of :func:`~mobileone_mm.utils.openvino_model.compile_openvino_model`.
        inputs (np.ndarray): The input batch.
        repeats (int): Rounds timed. Defaults to 20.
    """
    calls = {}
    for name, model in compiled.items():
        request = model.create_infer_request()
        calls[name] = lambda request=request: request.infer({0: inputs})
    seconds = time_interleaved(calls, torch.device('cpu'), warmup=3, repeats=repeats)
    return {name: Timing.from_seconds(values) for name, values in seconds.items()}


def time_onnx_models(onnx_files: Dict[str, str], inputs: np.ndarray, threads: int, repeats: int = 20
                     ) -> Dict[str, Timing]:
    """Times ONNX models on the same input in interleaved rounds in ONNX Runtime's CPU provider.

    Spinning is off (:func:`~mobileone_mm.deploy.onnxruntime_session.open_session`).
    """
    calls = {}
    for name, path in onnx_files.items():
        session = open_session(path, threads)
        feed = {session.get_inputs()[0].name: inputs}
        calls[name] = lambda session=session, feed=feed: session.run(None, feed)
    seconds = time_interleaved(calls, torch.device('cpu'), warmup=3, repeats=repeats)
    return {name: Timing.from_seconds(values) for name, values in seconds.items()}
