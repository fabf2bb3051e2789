"""Latency of the backbones: this package's, mmpretrain's and timm's MobileOne, trained and fused, timed in turn."""
import copy
import dataclasses
import tempfile
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from ..deploy.task_models import flatten_tensors
from ..models import MobileOne, MobileOneBlock, reparameterize_model
from ..testing.weights import make_realistic_, randomize_batch_norm_
from .config import BenchmarkConfig
from .ort_sessions import onnx_session
from .sizes import IMAGE_SIZE, SizeRow, count_parameters
from .timing import Gemm, Timing, paired_ratio, time_interleaved

GEMM = 'gemm'  # the GEMM's key among the functions timed in turn


@dataclass
class LatencyRow:
    """One latency measurement of a backbone.

    ``form`` is ``train`` (training form, eval mode), ``fused``,
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


@dataclass(frozen=True)
class Implementation:
    """A MobileOne implementation: how to build its training form and how it fuses itself."""

    name: str
    build: Callable[[str], nn.Module]
    reparameterize: Callable[[nn.Module], nn.Module]


class TimmFeatures(nn.Module):
    """A timm classifier's ``forward_features``: its backbone alone, like the other implementations."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


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
             'fused': {implementation.name: implementation.reparameterize(copy.deepcopy(trained[implementation.name]))
                        for implementation in IMPLEMENTATIONS}}
    rows = []
    for form, models in forms.items():
        for batch in config.batch_sizes:
            inputs = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)
            functions = {name: inference(model, inputs) for name, model in models.items()}
            seconds = time_interleaved({**functions, GEMM: gemm.run}, device, config.warmup, config.repeats)
            rows += [latency_row(device, arch, batch, name, form, count_parameters(models[name]), seconds[name], size,
                                 gemm, seconds[GEMM], seconds['mmpretrain']) for name in functions]
    inputs = torch.randn(config.train_batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)
    trained[BRANCH_FORM] = branch_form_training(trained['mobileone_mm'])
    for model in trained.values():
        model.train()  # not chained: mmpretrain's MobileOne.train() returns None
    # Each timed step follows an untimed one of the same model, as in training: timed right after another model's
    # step, a step pays for the memory that step gave back (docs/performance.md, "Method").
    seconds = time_interleaved({name: train_step(model, inputs) for name, model in trained.items()}, device,
                                  config.warmup, config.slow_repeats, settle=1)
    rows += [latency_row(device, arch, config.train_batch_size, name, 'train step', count_parameters(trained[name]),
                         times, size, mmpretrain_seconds=seconds['mmpretrain']) for name, times in seconds.items()]
    if device.type == 'cpu':
        rows += benchmark_onnxruntime(arch, forms['fused']['mobileone_mm'], config, size, gemm)
    return rows


def benchmark_onnxruntime(arch: str, fused: nn.Module, config: BenchmarkConfig, size: SizeRow,
                          gemm: Gemm) -> List[LatencyRow]:
    """This package's fused form in ONNX Runtime (CPU provider, torch's thread count), the GEMM timed in turn."""
    rows = []
    cpu = torch.device('cpu')
    with tempfile.TemporaryDirectory() as directory:
        session = onnx_session(fused, torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE), directory,
                               torch.get_num_threads(), dynamic_batch=True)
        for batch in config.batch_sizes:
            feed = {'input': np.random.default_rng(0).standard_normal((batch, 3, IMAGE_SIZE, IMAGE_SIZE), np.float32)}
            seconds = time_interleaved({'onnxruntime': lambda: session.run(None, feed), GEMM: gemm.run}, cpu,
                                          config.warmup, config.repeats)
            rows.append(latency_row(cpu, arch, batch, 'mobileone_mm', 'onnxruntime', count_parameters(fused),
                                    seconds['onnxruntime'], size, gemm, seconds[GEMM]))
    return rows
