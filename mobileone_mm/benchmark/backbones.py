"""Latency of the backbones: this package's, mmpretrain's and timm's MobileOne, trained and fused, timed in turn."""
import copy
import dataclasses
import functools
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from ..deploy.task_models import flatten_tensors
from ..models import MobileOne, MobileOneBlock
from ..testing.weights import make_realistic_, randomize_batch_norm_
from ..utils.numerics import cosine_similarity, relative_error
from ..utils.timing import Timing, paired_ratio, time_interleaved
from .config import BenchmarkConfig
from .runtimes import Candidate, eager, fused_candidates
from .sizes import IMAGE_SIZE, SizeRow, count_parameters


@dataclass
class LatencyRow:
    """One latency measurement of a backbone.

    ``form`` is ``train`` (training form, eval mode), ``fused`` or ``train
    step`` (training form, train mode, forward and backward); ``runtime``
    ``eager``, ``torch.compile``, ``onnxruntime``, ``openvino`` or
    ``executorch``; ``precision`` ``fp32``, ``bf16`` or ``int8``. The timing
    fields are None for a way that is not available on the machine, and
    ``note`` says why (else it names the options). ``gflops_per_s`` (from the
    fused form's multiply-accumulates) and ``ceiling_pct`` (of the GEMM timed
    alone) are None for the training step. ``vs_mmpretrain`` is the median
    over the rounds of this time / mmpretrain's (eager fp32, same form) in the
    same round: a paired ratio that a slow spell of the machine cancels out
    of. ``max_rel_error`` and ``cosine`` compare the outputs with the
    implementation's training form in fp32 eager on the same inputs (None for
    the training forms themselves).
    """

    device: str
    threads: int
    arch: str
    batch: int
    implementation: str
    form: str
    runtime: str
    precision: str
    params: int
    median_ms: Optional[float]
    p25_ms: Optional[float]
    p75_ms: Optional[float]
    min_ms: Optional[float]
    max_ms: Optional[float]
    repeats: Optional[int]
    images_per_s: Optional[float]
    gflops_per_s: Optional[float]
    ceiling_pct: Optional[float]
    vs_mmpretrain: Optional[float]
    max_rel_error: Optional[float]
    cosine: Optional[float]
    note: str
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


def backbone_switch_to_deploy(model: nn.Module) -> nn.Module:
    """Fuses a backbone by its own ``switch_to_deploy`` (this package's and mmpretrain's have one)."""
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
    Implementation('mobileone_mm', build_ours, backbone_switch_to_deploy),
    Implementation('mmpretrain', build_mmpretrain, backbone_switch_to_deploy),
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


def train_step(model: nn.Module, inputs: torch.Tensor) -> Callable[[], None]:
    """Forward and backward of ``model`` (in train mode: batch statistics), no optimizer step."""
    def step() -> None:
        model.zero_grad(set_to_none=True)
        sum(output.mean() for output in flatten_tensors(model(inputs))).backward()
    return step


def as_tensors(outputs: object) -> List[torch.Tensor]:
    """Outputs of any runtime (tensors, nested sequences of them, numpy arrays) as a flat list of CPU tensors."""
    if isinstance(outputs, np.ndarray):
        return [torch.from_numpy(outputs)]
    if isinstance(outputs, torch.Tensor):
        return [outputs.float().cpu()]
    return [tensor for output in outputs for tensor in as_tensors(output)]


def latency_row(device: torch.device, arch: str, batch: int, candidate: Candidate, params: int, size: SizeRow,
                seconds: Optional[Sequence[float]] = None, mmpretrain_seconds: Optional[Sequence[float]] = None,
                outputs: Optional[object] = None, reference: Optional[object] = None) -> LatencyRow:
    """A row of one candidate: its ``seconds`` in the rounds, mmpretrain's in the same rounds, its error.

    Without ``seconds`` (not available here) the timing fields are None and
    the candidate's note says why. The error is that of ``outputs`` against
    ``reference`` (the implementation's training form, fp32 eager, on the
    same inputs). ``ceiling_pct`` is filled in once the device's GEMM
    ceiling has been timed again at the end (:func:`fill_ceiling_pct`).
    """
    timing = Timing.from_seconds(seconds) if seconds is not None else None
    timed = {field.name: getattr(timing, field.name, None) for field in dataclasses.fields(Timing)}
    images_per_s = gflops = vs_mmpretrain = max_rel_error = cosine = None
    if timing is not None:
        images_per_s = batch / (timing.median_ms * 1e-3)
        if candidate.form != 'train step':
            gflops = 2 * size.backbone_macs * batch / (timing.median_ms * 1e-3) / 1e9
        if mmpretrain_seconds is not None:
            vs_mmpretrain = paired_ratio(seconds, mmpretrain_seconds)
    if outputs is not None and reference is not None:
        actual, expected = as_tensors(outputs), as_tensors(reference)
        max_rel_error, cosine = relative_error(actual, expected), cosine_similarity(actual, expected)
    return LatencyRow(device.type, torch.get_num_threads(), arch, batch, candidate.implementation, candidate.form,
                      candidate.runtime, candidate.precision, params, **timed, images_per_s=images_per_s,
                      gflops_per_s=gflops, ceiling_pct=None, vs_mmpretrain=vs_mmpretrain,
                      max_rel_error=max_rel_error, cosine=cosine, note=candidate.note,
                      published_top1=size.published_top1)


def fill_ceiling_pct(rows: Sequence[LatencyRow], ceiling_gflops_per_s: float) -> None:
    """Each inference row's achieved GFLOP/s as % of the device's GEMM ceiling timed alone."""
    for row in rows:
        if row.gflops_per_s is not None:
            row.ceiling_pct = 100 * row.gflops_per_s / ceiling_gflops_per_s


def first_outputs(candidates: Dict[str, Candidate], inputs: torch.Tensor
                  ) -> Tuple[Dict[str, object], Dict[str, Candidate]]:
    """Runs each available candidate once on ``inputs``: the outputs of those that ran, and those that cannot.

    A candidate that fails on its first call (e.g. ``torch.compile`` without
    a compiler) comes back without its run and with a note naming the error,
    one of another static batch size (a ``.pte``) with one saying which it
    takes.
    """
    outputs, untimed = {}, {}
    for name, candidate in candidates.items():
        if candidate.batch not in (None, len(inputs)):
            untimed[name] = dataclasses.replace(candidate, run=None,
                                                note=f'not timed: it takes batch {candidate.batch} only')
        elif candidate.run is not None:
            try:
                outputs[name] = candidate.run(inputs)
            except Exception as error:  # noqa: BLE001 - the row reports it; the other candidates still run
                untimed[name] = dataclasses.replace(candidate, run=None, note=f'failed: {type(error).__name__}: '
                                                    f'{str(error).splitlines()[0] if str(error) else ""}')
    return outputs, untimed


def time_candidates(device: torch.device, arch: str, batch: int, candidates: Dict[str, Candidate],
                    params: Dict[str, int], inputs: torch.Tensor, references: Dict[str, object], size: SizeRow,
                    config: BenchmarkConfig) -> List[LatencyRow]:
    """Runs each available candidate once for its error (:func:`first_outputs`), then times them all in turn.

    A candidate that cannot run becomes a row whose note says why, not an abort.
    """
    outputs, untimed = first_outputs(candidates, inputs)
    candidates = {**candidates, **untimed}
    calls = {name: functools.partial(candidates[name].run, inputs) for name in outputs}
    seconds = time_interleaved(calls, device, config.warmup, config.repeats)
    rows = []
    for name, candidate in candidates.items():
        rows.append(latency_row(device, arch, batch, candidate, params[name], size, seconds.get(name),
                                seconds.get('mmpretrain'), outputs.get(name), references.get(candidate.implementation)))
    return rows


def benchmark_arch(arch: str, device: torch.device, config: BenchmarkConfig, size: SizeRow,
                   progress: tqdm) -> List[LatencyRow]:
    """Every implementation, form, runtime and precision of one arch on one device, compared forms timed in turn.

    Two sets of rounds per batch size: the three training forms; the three
    fused forms in eager fp32 with this package's fused form in the other
    runtimes and precisions (:mod:`.runtimes`). Then the training steps.
    """
    progress.set_postfix_str(f'{device.type} {arch}')
    trained = {implementation.name: implementation.build(arch).to(device) for implementation in IMPLEMENTATIONS}
    fused = {implementation.name: implementation.reparameterize(copy.deepcopy(trained[implementation.name]))
             for implementation in IMPLEMENTATIONS}
    train_ways = {name: Candidate(name, 'train', 'eager', 'fp32', eager(model)) for name, model in trained.items()}
    fused_ways = {name: Candidate(name, 'fused', 'eager', 'fp32', eager(model)) for name, model in fused.items()}
    params = {name: count_parameters(model) for name, model in trained.items()}
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for candidate in fused_candidates(fused['mobileone_mm'], device, IMAGE_SIZE, directory,
                                          config.calibration_images):
            fused_ways[f'{candidate.runtime} {candidate.precision}'] = candidate
        fused_params = {name: count_parameters(fused[way.implementation]) for name, way in fused_ways.items()}
        for batch in config.batch_sizes:
            inputs = torch.randn(batch, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)
            rows += time_candidates(device, arch, batch, train_ways, params, inputs, {}, size, config)
            references = {name: way.run(inputs) for name, way in train_ways.items()}
            rows += time_candidates(device, arch, batch, fused_ways, fused_params, inputs, references, size, config)
    rows += benchmark_train_steps(arch, device, config, size, trained)
    return rows


def benchmark_train_steps(arch: str, device: torch.device, config: BenchmarkConfig, size: SizeRow,
                          trained: Dict[str, nn.Module]) -> List[LatencyRow]:
    """One training step of each implementation's training form, and of ours branch by branch, timed in turn."""
    inputs = torch.randn(config.train_batch_size, 3, IMAGE_SIZE, IMAGE_SIZE, device=device)
    trained = {**trained, BRANCH_FORM: branch_form_training(trained['mobileone_mm'])}
    for model in trained.values():
        model.train()  # not chained: mmpretrain's MobileOne.train() returns None
    # Each timed step follows an untimed one of the same model, as in training: timed right after another model's
    # step, a step pays for the memory that step gave back (docs/performance.md, "Method").
    seconds = time_interleaved({name: train_step(model, inputs) for name, model in trained.items()}, device,
                               config.warmup, config.slow_repeats, settle=1)
    return [latency_row(device, arch, config.train_batch_size, Candidate(name, 'train step', 'eager', 'fp32'),
                        count_parameters(trained[name]), size, times, seconds['mmpretrain'])
            for name, times in seconds.items()]
