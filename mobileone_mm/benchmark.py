"""Latency and size of MobileOne in one run: this package's, mmpretrain's and timm's, trained and fused.

:func:`run_benchmark` measures, on each device, for each arch and batch size,
the backbone alone (stem and 4 stages, no head) at 224x224 in float32:

- the training form in eval mode and the re-parameterized (deploy) form of
  this package's ``MobileOne``, mmpretrain's ``MobileOne`` and timm's
  ``mobileone_s*`` (fused by timm's own ``reparameterize_model``), in PyTorch
  eager under ``torch.inference_mode``;
- this package's deploy form exported to ONNX (opset 11, TorchScript
  exporter) in ONNX Runtime's CPU provider, on the CPU only;
- one training step (forward and backward in train mode, no optimizer) of
  each implementation's training form, and of this package's with
  ``merged_training=False`` (every block branch by branch);
- an fp32 GEMM, the compute ceiling against which each form's effective
  GFLOP/s (2 x the deploy form's multiply-accumulates per image x batch /
  latency) is put; it is timed in the same rounds as each inference form,
  and ``% GEMM`` is the median of the rounds' ratios, so that a slow spell of
  the machine during one measurement does not skew it;

and it counts the parameters and multiply-accumulates of the ImageNet
classifier (backbone, global average pooling, a 1000-way linear head) next to
the figures of mmpretrain's metafile, read from the installed mmpretrain.
Optionally it times RetinaNet and DeepLabV3 with MobileOne and with ResNet
backbones (network forward only, no post-processing), in PyTorch eager and,
on the CPU, exported to ONNX in ONNX Runtime. Every model gets
realistic weights (Kaiming convs, random BN statistics) and denormals are
flushed: with default BN statistics a random MobileOne in eval mode runs into
denormal floats, 100x slower on CPU. On CUDA, TF32 is off, so that every
form and the GEMM ceiling compute in true fp32.

Example:
    >>> from mobileone_mm.benchmark import BenchmarkConfig, run_benchmark
    >>> from mobileone_mm.benchmark_report import write_results
    >>> result = run_benchmark(BenchmarkConfig.quick())
    >>> write_results(result, 'work_dirs/benchmark')
"""
import contextlib
import copy
import dataclasses
import logging
import os.path as osp
import platform
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
import yaml
from mmengine.analysis import FlopAnalyzer
from mmengine.logging import MMLogger
from mmengine.utils import get_installed_path
from tqdm import tqdm

from .analysis import arch_summary, count_parameters
from .mobileone import MobileOne, MobileOneBlock, arch_channels
from .reparameterize import reparameterize_model
from .task_model import build_model, flatten_tensors, load_model_config
from .verify import make_realistic_, randomize_batch_norm_

IMAGE_SIZE = 224
NUM_CLASSES = 1000
ARCHS = ('s0', 's1', 's2', 's3', 's4')
CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')
DETECTION_INPUT = (800, 1344)  # mmdet's test scale (1333, 800), padded to a multiple of 32
SEGMENTATION_INPUT = (512, 512)
GEMM_SIZES = {'cpu': 2048, 'cuda': 8192}  # large enough to reach each device's fp32 peak
METAFILE = 'configs/mobileone/metafile.yml'  # in mmpretrain's package data (.mim)
GEMM = 'gemm'  # the GEMM's key among the functions timed in turn


def default_devices() -> Tuple[str, ...]:
    """The CPU, and CUDA when available."""
    return ('cpu', 'cuda') if torch.cuda.is_available() else ('cpu', )


@dataclass(frozen=True)
class Published:
    """mmpretrain's published figures for its ImageNet-1k classifier of one arch.

    ``flops`` are multiply-accumulates at 224x224 of the fused model's
    ``extract_feat`` (backbone and global average pooling, without the linear
    head: mmpretrain's ``get_flops`` tool counts that), ``params`` those of the
    whole fused classifier, ``top1`` its ImageNet-1k top-1 accuracy (%).
    """

    flops: int
    params: int
    top1: float


@dataclass
class BenchmarkConfig:
    """What :func:`run_benchmark` measures.

    Args:
        archs (Sequence[str]): Archs to measure. Defaults to s0 .. s4.
        batch_sizes (Sequence[int]): Batch sizes of the inference forms.
            Defaults to (1, 8).
        devices (Sequence[str]): Devices, e.g. ``('cpu', 'cuda')``. Defaults
            to the CPU, and CUDA when available.
        repeats (int): Timed runs of each inference measurement. Defaults to 30.
        warmup (int): Untimed runs before them. Defaults to 5.
        slow_repeats (int): Timed runs of a training step and of a task model.
            Defaults to 10.
        train_batch_size (int): Batch size of the training step. Defaults to 8.
        gemm_size (int, optional): Size n of the n x n x n fp32 GEMM, or None
            for :data:`GEMM_SIZES` (2048 on the CPU, 8192 on CUDA).
            Defaults to None.
        tasks (bool): Also time RetinaNet and DeepLabV3. Defaults to False.
    """

    archs: Sequence[str] = ARCHS
    batch_sizes: Sequence[int] = (1, 8)
    devices: Sequence[str] = field(default_factory=default_devices)
    repeats: int = 30
    warmup: int = 5
    slow_repeats: int = 10
    train_batch_size: int = 8
    gemm_size: Optional[int] = None
    tasks: bool = False

    @classmethod
    def quick(cls) -> 'BenchmarkConfig':
        """A smoke test: s0, batch 1, a few repeats, a training step on 2 images."""
        return cls(archs=('s0', ), batch_sizes=(1, ), repeats=3, warmup=1, slow_repeats=2, train_batch_size=2,
                   gemm_size=1024)


@dataclass
class Timing:
    """Summary of repeated timings, in milliseconds."""

    median_ms: float
    p25_ms: float
    p75_ms: float
    min_ms: float
    max_ms: float
    repeats: int

    @classmethod
    def from_seconds(cls, seconds: Sequence[float]) -> 'Timing':
        ms = np.asarray(seconds) * 1e3
        p25, median, p75 = np.percentile(ms, [25, 50, 75])
        return cls(float(median), float(p25), float(p75), float(ms.min()), float(ms.max()), len(ms))


@dataclass
class GemmRow:
    """The fp32 GEMM ceiling of one device."""

    device: str
    threads: int
    size: int
    median_ms: float
    gflops_per_s: float


@dataclass
class SizeRow:
    """Size and cost of one arch, counted here, against mmpretrain's published classifier.

    ``backbone_macs`` is ``analysis.arch_summary``'s ``deploy_flops``: the
    multiply-accumulates per image of the fused backbone, the work the
    effective GFLOP/s of every form are computed from. ``features_macs``
    adds the global average pooling (what mmpretrain publishes),
    ``classifier_macs`` the linear head too.
    """

    arch: str
    backbone_macs: int
    classifier_params_train: int
    classifier_params_deploy: int
    published_params: int
    features_macs: int
    classifier_macs: int
    published_macs: int
    published_top1: float


@dataclass
class LatencyRow:
    """One latency measurement of a backbone.

    ``form`` is ``train`` (training form, eval mode), ``deploy`` (fused),
    ``onnxruntime`` (fused, in ONNX Runtime) or ``train step`` (training form,
    train mode, forward and backward). ``gflops_per_s`` and ``gemm_pct`` are
    left empty for the training step. ``vs_mmpretrain`` is the median over
    the rounds of this time / mmpretrain's time in the same round (same form
    and batch): a paired ratio that a slow spell of the machine cancels out
    of; empty for ONNX Runtime.
    """

    device: str
    threads: int
    arch: str
    batch: int
    implementation: str
    form: str
    params: int
    median_ms: float
    p25_ms: float
    p75_ms: float
    min_ms: float
    max_ms: float
    repeats: int
    images_per_s: float
    gflops_per_s: Optional[float]
    gemm_pct: Optional[float]
    vs_mmpretrain: Optional[float]
    published_top1: float


@dataclass
class TaskRow:
    """Latency of one task model's network forward (``mode='tensor'``, no post-processing).

    ``form`` is ``train`` or ``deploy`` (MobileOne, PyTorch eager), ``eval``
    (ResNet, PyTorch eager) or ``onnxruntime`` (the deploy or ResNet model
    exported to ONNX, in ONNX Runtime's CPU provider).
    """

    device: str
    threads: int
    task: str
    backbone: str
    form: str
    input_hw: str
    params: int
    median_ms: float
    p25_ms: float
    p75_ms: float
    min_ms: float
    max_ms: float
    repeats: int


@dataclass
class BenchmarkResult:
    """Everything one run measured."""

    environment: Dict[str, object]
    config: BenchmarkConfig
    gemm: List[GemmRow]
    sizes: List[SizeRow]
    latency: List[LatencyRow]
    tasks: List[TaskRow]


@dataclass(frozen=True)
class Implementation:
    """A MobileOne implementation: how to build its training form and how it fuses itself."""

    name: str
    build: Callable[[str], nn.Module]
    reparameterize: Callable[[nn.Module], nn.Module]


class Gemm(NamedTuple):
    """An fp32 n x n by n x n matrix product, the compute ceiling: timed beside each inference form."""

    size: int
    run: Callable[[], object]

    @property
    def flops(self) -> int:
        return 2 * self.size**3


class TaskModel(NamedTuple):
    """A detector or segmentor to time: its config file and input size."""

    task: str
    backbone: str
    config: str
    input_hw: Tuple[int, int]


class TaskNetwork(nn.Module):
    """A detector's or segmentor's network forward (``mode='tensor'``) as a module of one tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> object:
        return self.model(x, mode='tensor')


class TensorOutputs(nn.Module):
    """A model's outputs, nested sequences of tensors, as one flat tuple: what the ONNX exporter takes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return tuple(flatten_tensors(self.model(x)))


class TimmFeatures(nn.Module):
    """A timm classifier's ``forward_features``: its backbone alone, like the other implementations."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


class Classifier(nn.Module):
    """mmpretrain's ImageNet classifier in miniature: backbone, global average pooling, linear head."""

    def __init__(self, arch: str, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.backbone = MobileOne(arch, out_indices=(3, ))
        self.neck = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(arch_channels(arch)[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(x)[-1]).flatten(1))


def published_figures(path: Optional[str] = None) -> Dict[str, Published]:
    """Reads mmpretrain's MobileOne metafile: {'s0': Published(...), ...}.

    Args:
        path (str, optional): The metafile. Defaults to the one installed
            with mmpretrain.
    """
    path = path or osp.join(get_installed_path('mmpretrain'), '.mim', METAFILE)
    with open(path) as file:
        models = yaml.safe_load(file)['Models']
    return {model['Name'].split('_')[0].split('-')[1]: Published(
        flops=int(model['Metadata']['FLOPs']), params=int(model['Metadata']['Parameters']),
        top1=float(model['Results'][0]['Metrics']['Top 1 Accuracy'])) for model in models}


def build_ours(arch: str) -> nn.Module:
    return make_realistic_(MobileOne(arch, out_indices=(3, )))


def build_mmpretrain(arch: str) -> nn.Module:
    from mmpretrain.models.backbones import MobileOne as MMPretrainMobileOne

    return make_realistic_(MMPretrainMobileOne(arch, out_indices=(3, )))


def mmpretrain_switch_to_deploy(model: nn.Module) -> nn.Module:
    model.switch_to_deploy()
    return model


def build_timm(arch: str, seed: int = 0) -> nn.Module:
    import timm

    torch.manual_seed(seed)
    model = TimmFeatures(timm.create_model(f'mobileone_{arch}', pretrained=False, num_classes=0))
    randomize_batch_norm_(model, seed)
    model.eval()
    return model


def timm_reparameterize(model: nn.Module) -> nn.Module:
    from timm.utils import reparameterize_model as timm_reparameterize_model

    return timm_reparameterize_model(model, inplace=True)


IMPLEMENTATIONS = (
    Implementation('mobileone_mm', build_ours, reparameterize_model),
    Implementation('mmpretrain', build_mmpretrain, mmpretrain_switch_to_deploy),
    Implementation('timm', build_timm, timm_reparameterize),
)


BRANCH_FORM = 'mobileone_mm, branches'  # the train step of this package without merged training


def branch_form_training(model: nn.Module) -> nn.Module:
    """A copy of this package's model that trains every block branch by branch (``merged_training=False``)."""
    model = copy.deepcopy(model)
    for module in model.modules():
        if isinstance(module, MobileOneBlock):
            module.merged_training = False
    return model


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def measure(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> Timing:
    """Times ``repeats`` calls of ``fn`` after ``warmup`` untimed ones, waiting for the device after each."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return Timing.from_seconds(seconds)


def measure_interleaved(functions: Dict[str, Callable[[], object]], device: torch.device, warmup: int,
                        repeats: int, settle: int = 0) -> Dict[str, List[float]]:
    """Times the functions in turn, one call each per round, so that a slow spell of a noisy machine hits all alike.

    The order rotates from round to round, so that no function always follows
    the same one: what ran before changes the allocator's state (memory given
    back to the system costs page faults when taken again). Measured on CPU:
    S0's train step took 1.02x as long right after mmpretrain's as right after
    its own (median of 12 rounds).

    Args:
        functions (dict[str, Callable]): What to time, by name.
        device (torch.device): The device to wait for around each timed call.
        warmup (int): Untimed calls of each function before the first round.
        repeats (int): Rounds.
        settle (int): Untimed calls of a function right before each of its
            timed calls, so that it is timed in the state it leaves behind, as
            in a loop of it alone (a training loop). Defaults to 0.

    Returns:
        dict[str, list[float]]: Each function's seconds, round by round.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    names = list(functions)
    seconds: Dict[str, List[float]] = {name: [] for name in names}
    for round_index in range(repeats):
        first = round_index % len(names)
        for name in names[first:] + names[:first]:
            function = functions[name]
            for _ in range(settle):
                function()
            synchronize(device)
            start = time.perf_counter()
            function()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def paired_ratio(seconds: Sequence[float], reference: Sequence[float]) -> float:
    """The median of the round-by-round ratios of two interleaved timings."""
    return float(np.median(np.asarray(seconds) / np.asarray(reference)))


def inference(model: nn.Module, inputs: torch.Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.inference_mode():
            return model(inputs)
    return run


def train_step(model: nn.Module, inputs: torch.Tensor) -> Callable[[], None]:
    """Forward and backward of ``model`` (in train mode: batch statistics), no optimizer step."""
    def step() -> None:
        model.zero_grad(set_to_none=True)
        sum(output.mean() for output in flatten_tensors(model(inputs))).backward()
    return step


def gemm_call(device: torch.device, size: int) -> Gemm:
    """An fp32 n x n by n x n matrix product on ``device``, ready to time."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    return Gemm(size, lambda: torch.mm(a, b))


def gemm_ceiling(gemm: Gemm, device: torch.device, repeats: int) -> GemmRow:
    """fp32 GFLOP/s of ``gemm`` on ``device``."""
    timing = measure(gemm.run, device, warmup=2, repeats=repeats)
    return GemmRow(device.type, torch.get_num_threads(), gemm.size, timing.median_ms,
                   gemm.flops / (timing.median_ms * 1e-3) / 1e9)


def count_flops(model: nn.Module, input_size: int = IMAGE_SIZE) -> Dict[str, int]:
    """Multiply-accumulates of one image by module name ('' the total), as mmengine's ``FlopAnalyzer`` counts."""
    analyzer = FlopAnalyzer(model, torch.zeros(1, 3, input_size, input_size))
    return dict(analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False).by_module())


def size_row(arch: str, published: Published) -> SizeRow:
    """Counts the backbone's deploy MACs and the classifier's parameters and MACs of ``arch``."""
    classifier = Classifier(arch).eval()
    params_train = count_parameters(classifier)
    reparameterize_model(classifier)
    flops = count_flops(classifier)
    return SizeRow(arch, int(arch_summary(arch)['deploy_flops']), params_train, count_parameters(classifier),
                   published.params, flops[''] - flops['head'], flops[''], published.flops, published.top1)


def onnx_session(model: nn.Module, inputs: torch.Tensor, directory: str, threads: int,
                 dynamic_batch: bool = False) -> ort.InferenceSession:
    """Exports a CPU ``model`` to ONNX and opens it in ONNX Runtime's CPU provider.

    Args:
        model (nn.Module): Takes one tensor, returns a tensor or nested
            sequences of tensors.
        inputs (torch.Tensor): An input to trace the export with.
        directory (str): Where the ``.onnx`` file goes.
        threads (int): ONNX Runtime's intra-op threads.
        dynamic_batch (bool): Whether the batch size is free. Defaults to
            False.
    """
    path = osp.join(directory, 'model.onnx')
    dynamic_axes = {'input': {0: 'batch'}} if dynamic_batch else None
    torch.onnx.export(TensorOutputs(model), (inputs, ), path, dynamo=False, opset_version=11, input_names=['input'],
                      dynamic_axes=dynamic_axes)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])


def latency_row(device: torch.device, arch: str, batch: int, implementation: str, form: str, params: int,
                seconds: Sequence[float], size: SizeRow, gemm: Optional[Gemm] = None,
                gemm_seconds: Optional[Sequence[float]] = None,
                mmpretrain_seconds: Optional[Sequence[float]] = None) -> LatencyRow:
    """A row from interleaved timings: ``seconds`` of this form, of the GEMM and of mmpretrain's in the same rounds.

    ``gemm_pct`` is the median over the rounds of the form's achieved
    GFLOP/s against the GEMM's in the same round (without a GEMM: None).
    """
    timing = Timing.from_seconds(seconds)
    images_per_s = batch / (timing.median_ms * 1e-3)
    flops = 2 * size.backbone_macs * batch
    gflops = None if form == 'train step' else flops / (timing.median_ms * 1e-3) / 1e9
    gemm_pct = None if gemm is None else 100 * flops / gemm.flops * paired_ratio(gemm_seconds, seconds)
    vs_mmpretrain = None if mmpretrain_seconds is None else paired_ratio(seconds, mmpretrain_seconds)
    return LatencyRow(device.type, torch.get_num_threads(), arch, batch, implementation, form, params,
                      **dataclasses.asdict(timing), images_per_s=images_per_s, gflops_per_s=gflops, gemm_pct=gemm_pct,
                      vs_mmpretrain=vs_mmpretrain, published_top1=size.published_top1)


def benchmark_arch(arch: str, device: torch.device, config: BenchmarkConfig, size: SizeRow, gemm: Gemm,
                   progress: tqdm) -> List[LatencyRow]:
    """Every implementation and form of one arch on one device, the implementations (and the GEMM) timed in turn."""
    progress.set_postfix_str(f'{device.type} {arch}')
    trained = {implementation.name: implementation.build(arch).to(device) for implementation in IMPLEMENTATIONS}
    forms = {'train': trained,
             'deploy': {implementation.name: implementation.reparameterize(copy.deepcopy(trained[implementation.name]))
                        for implementation in IMPLEMENTATIONS}}
    rows = []
    for form, models in forms.items():
        for batch in config.batch_sizes:
            inputs = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)
            functions = {name: inference(model, inputs) for name, model in models.items()}
            seconds = measure_interleaved({**functions, GEMM: gemm.run}, device, config.warmup, config.repeats)
            rows += [latency_row(device, arch, batch, name, form, count_parameters(models[name]), seconds[name], size,
                                 gemm, seconds[GEMM], seconds['mmpretrain']) for name in functions]
    inputs = torch.randn(config.train_batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)
    trained[BRANCH_FORM] = branch_form_training(trained['mobileone_mm'])
    for model in trained.values():
        model.train()  # not chained: mmpretrain's MobileOne.train() returns None
    # Each timed step follows an untimed one of the same model, as in training. Timed right after another model's
    # step, a step pays for the memory that step gave back (S0 at batch 8, one run of 12 rounds each way, medians
    # right after another model's step vs after its own: ours 825 vs 747 ms, the branch form 1220 vs 1061 ms,
    # mmpretrain 1215 vs 1168 ms).
    seconds = measure_interleaved({name: train_step(model, inputs) for name, model in trained.items()}, device,
                                  config.warmup, config.slow_repeats, settle=1)
    rows += [latency_row(device, arch, config.train_batch_size, name, 'train step', count_parameters(trained[name]),
                         times, size, mmpretrain_seconds=seconds['mmpretrain']) for name, times in seconds.items()]
    if device.type == 'cpu':
        rows += benchmark_onnxruntime(arch, forms['deploy']['mobileone_mm'], config, size, gemm)
    return rows


def benchmark_onnxruntime(arch: str, deploy: nn.Module, config: BenchmarkConfig, size: SizeRow,
                          gemm: Gemm) -> List[LatencyRow]:
    """This package's deploy form in ONNX Runtime (CPU provider, torch's thread count), the GEMM timed in turn."""
    rows = []
    cpu = torch.device('cpu')
    with tempfile.TemporaryDirectory() as directory:
        session = onnx_session(deploy, torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE), directory,
                               torch.get_num_threads(), dynamic_batch=True)
        for batch in config.batch_sizes:
            feed = {'input': np.random.default_rng(0).standard_normal((batch, 3, IMAGE_SIZE, IMAGE_SIZE), np.float32)}
            seconds = measure_interleaved({'onnxruntime': lambda: session.run(None, feed), GEMM: gemm.run}, cpu,
                                          config.warmup, config.repeats)
            rows.append(latency_row(cpu, arch, batch, 'mobileone_mm', 'onnxruntime', count_parameters(deploy),
                                    seconds['onnxruntime'], size, gemm, seconds[GEMM]))
    return rows


def task_models(archs: Sequence[str], detection_input: Tuple[int, int] = DETECTION_INPUT,
                segmentation_input: Tuple[int, int] = SEGMENTATION_INPUT) -> List[TaskModel]:
    """The task models to time for ``archs``.

    RetinaNet with each MobileOne arch and with mmdet's ResNet-18 and
    ResNet-50; DeepLabV3 (output stride 8, VOC) with each MobileOne arch that
    has a config here (s1, s4) and with mmseg's ResNet-50.
    """
    def framework_config(package: str, path: str) -> str:
        return osp.join(get_installed_path(package), '.mim', 'configs', path)

    models = [TaskModel('RetinaNet', f'MobileOne-{arch}', osp.join(CONFIG_DIR, f'retinanet_mobileone_{arch}_coco.py'),
                        detection_input) for arch in archs]
    models += [TaskModel('RetinaNet', f'ResNet-{depth}',
                         framework_config('mmdet', f'retinanet/retinanet_r{depth}_fpn_1x_coco.py'), detection_input)
               for depth in (18, 50)]
    for arch in archs:
        config = osp.join(CONFIG_DIR, f'deeplabv3_mobileone_{arch}_d8_4xb4_20k_voc12aug_512x512.py')
        if osp.isfile(config):
            models.append(TaskModel('DeepLabV3', f'MobileOne-{arch}', config, segmentation_input))
    models.append(TaskModel('DeepLabV3', 'ResNet-50',
                            framework_config('mmseg', 'deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'),
                            segmentation_input))
    return models


def benchmark_tasks(device: torch.device, models: Sequence[TaskModel], repeats: int) -> List[TaskRow]:
    """Batch-1 network forward of task models: MobileOne in its training and deploy forms, ResNet as it is.

    Each model is built from its config without pretrained weights and gets
    random BN statistics; one untimed run precedes the ``repeats`` timed ones.
    On the CPU, the deploy form of a MobileOne model and the ResNet models
    are also exported to ONNX and timed in ONNX Runtime.
    """
    rows = []
    for task in tqdm(models, desc=f'tasks on {device.type}'):
        model = build_model(load_model_config(task.config), device.type)
        randomize_batch_norm_(model)
        forms = {'eval': model}
        if any(isinstance(module, MobileOne) for module in model.modules()):
            forms = {'train': model, 'deploy': reparameterize_model(copy.deepcopy(model))}
        inputs = torch.randn(1, 3, *task.input_hw, device=device)
        timings = {}
        for form, form_model in forms.items():
            with torch.inference_mode():
                timings[form] = measure(lambda: form_model(inputs, mode='tensor'), device, 1, repeats)
        params = {form: count_parameters(form_model) for form, form_model in forms.items()}
        if device.type == 'cpu':
            fused = list(forms.values())[-1]
            timings['onnxruntime'] = onnxruntime_task_timing(fused, inputs, repeats)
            params['onnxruntime'] = count_parameters(fused)
        rows += [TaskRow(device.type, torch.get_num_threads(), task.task, task.backbone, form,
                         'x'.join(map(str, task.input_hw)), params[form], **dataclasses.asdict(timing))
                 for form, timing in timings.items()]
    return rows


def onnxruntime_task_timing(model: nn.Module, inputs: torch.Tensor, repeats: int) -> Timing:
    """Latency of a task model's network forward exported to ONNX, in ONNX Runtime on the CPU."""
    with tempfile.TemporaryDirectory() as directory:
        session = onnx_session(TaskNetwork(model), inputs, directory, torch.get_num_threads())
        feed = {'input': inputs.numpy()}
        return measure(lambda: session.run(None, feed), torch.device('cpu'), 1, repeats)


@contextlib.contextmanager
def quiet_mmengine_logger() -> Iterator[None]:
    """Only warnings from mmengine's logger: ``init_weights`` logs every parameter's init at INFO."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def use_ieee_fp32_on_cuda() -> None:
    """No TF32 in CUDA convs and matmuls: every form and the GEMM ceiling compute in true fp32."""
    torch.backends.cudnn.conv.fp32_precision = 'ieee'
    torch.backends.cuda.matmul.fp32_precision = 'ieee'
    torch.backends.cudnn.benchmark = True


def environment(devices: Sequence[str]) -> Dict[str, object]:
    """Versions, processor and threads, for the record."""
    packages = ('torch', 'mmengine', 'mmcv', 'mmpretrain', 'timm', 'onnx', 'onnxruntime')
    info = dict(python=platform.python_version(), **{package: version(package) for package in packages},
                processor=cpu_name(), threads=torch.get_num_threads(), flush_denormal=True)
    if 'cuda' in devices:
        info['cuda_device'] = torch.cuda.get_device_name()
    return info


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            return next(line.split(':', 1)[1].strip() for line in cpuinfo if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor()


def run_benchmark(config: BenchmarkConfig) -> BenchmarkResult:
    """Measures everything :class:`BenchmarkConfig` asks for, in this process.

    Raises:
        ValueError: For an arch without published figures.
    """
    published = published_figures()
    unknown = [arch for arch in config.archs if arch not in published]
    if unknown:
        raise ValueError(f'archs {unknown} are not among {list(published)}')
    torch.set_flush_denormal(True)
    devices = [torch.device(device) for device in config.devices]
    if any(device.type == 'cuda' for device in devices):
        use_ieee_fp32_on_cuda()
    with quiet_mmengine_logger():
        sizes = [size_row(arch, published[arch]) for arch in config.archs]
        result = BenchmarkResult(environment(config.devices), config, [], sizes, [], [])
        for device in devices:
            gemm = gemm_call(device, config.gemm_size or GEMM_SIZES[device.type])
            result.gemm.append(gemm_ceiling(gemm, device, config.repeats))
            with tqdm(total=len(sizes), desc=f'backbones on {device.type}') as progress:
                for size in sizes:
                    result.latency += benchmark_arch(size.arch, device, config, size, gemm, progress)
                    progress.update()
            if config.tasks:
                result.tasks += benchmark_tasks(device, task_models(config.archs), config.slow_repeats)
    return result
