"""Is MobileOne the right backbone? The paper's accuracy-latency comparison, in every runtime the project deploys to.

Whole ImageNet classifiers at 224x224 (backbone, pooling, 1000-way head):
MobileOne S0..S4 (this package's, fused) against timm's mobile networks of
the same accuracy range, each re-parameterized where timm offers it
(``timm.utils.reparameterize_model``), with random weights and realistic BN
statistics. Each runs in PyTorch eager fp32, ONNX Runtime fp32 and INT8,
OpenVINO f32, bf16 and INT8, and ExecuTorch XNNPACK fp32 and INT8 (batch 1),
built as :mod:`.runtimes` builds this package's fused backbone; a network that
fails to export or lower in a runtime gets a row saying why. Per runtime,
precision and batch the networks are timed in interleaved rounds.

Beside each network: its published ImageNet-1k top-1 (:data:`NETWORKS`, with
its source) and its parameters and multiply-accumulates counted here.
:func:`mark_pareto_fronts` marks the networks no other beats in both latency
and top-1; :func:`verdicts` puts each other network against MobileOne's
curve at the same top-1.
"""
import dataclasses
import math
import os
import os.path as osp
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from tqdm import tqdm

from ..models import fuse_mobileone_blocks
from ..testing.weights import make_realistic_, randomize_batch_norm_
from ..utils.numerics import cosine_similarity, relative_error
from ..utils.timing import Timing, time_interleaved
from .backbones import as_tensors, first_outputs
from .config import BenchmarkConfig
from .ort_sessions import export_onnx
from .runtimes import INT8_OPSET, Candidate, eager, executorch_candidates, onnxruntime_candidates, openvino_candidates
from .sizes import IMAGE_SIZE, Classifier, count_flops, count_parameters

MOBILEONE = 'MobileOne'
PAPER = 'MobileOne paper, arXiv 2206.04040'
TIMM_RESULTS = ('timm results/results-imagenet.csv (github.com/huggingface/pytorch-image-models, '
                'commit aa4b5850, 2026-08-08)')


@dataclass(frozen=True)
class Network:
    """A network of the comparison and its published ImageNet-1k top-1.

    Args:
        name (str): timm's model name, or ``mobileone_s0`` .. ``mobileone_s4``
            for this package's.
        published_top1 (float): Top-1 (%) of its published ImageNet-1k weights.
        source (str): Where that figure is published, and of which weights.
    """

    name: str
    published_top1: float
    source: str

    @property
    def family(self) -> str:
        return MOBILEONE if self.name.startswith('mobileone_') else 'other'


NETWORKS = (
    Network('mobileone_s0', 71.4, PAPER),
    Network('mobileone_s1', 75.9, PAPER),
    Network('mobileone_s2', 77.4, PAPER),
    Network('mobileone_s3', 78.1, PAPER),
    Network('mobileone_s4', 79.4, PAPER),
    Network('mobilenetv2_100', 72.910, f'{TIMM_RESULTS}: mobilenetv2_100.ra_in1k, 224 px'),
    Network('mobilenetv3_large_100', 75.784, f'{TIMM_RESULTS}: mobilenetv3_large_100.ra_in1k, 224 px'),
    Network('mobilenetv4_conv_small', 73.756, f'{TIMM_RESULTS}: mobilenetv4_conv_small.e2400_r224_in1k, 224 px'),
    Network('mobilenetv4_conv_medium', 79.092, f'{TIMM_RESULTS}: mobilenetv4_conv_medium.e500_r224_in1k, 224 px'),
    Network('efficientnet_b0', 77.698, f'{TIMM_RESULTS}: efficientnet_b0.ra_in1k, 224 px'),
    Network('fastvit_t8', 76.184, f'{TIMM_RESULTS}: fastvit_t8.apple_in1k, 256 px (timm lists no 224 px result)'),
    Network('repvit_m1_0', 80.152, f'{TIMM_RESULTS}: repvit_m1_0.dist_300e_in1k, 224 px, distilled'),
)
# Every way a network is timed, by runtime: what :func:`network_candidates` builds.
WAYS = {'eager': ('fp32', ), 'onnxruntime': ('fp32', 'int8'), 'openvino': ('fp32', 'bf16', 'int8'),
        'executorch': ('fp32', 'int8')}


@dataclass
class ChoiceRow:
    """One network timed one way: its latency, error and place among the networks.

    ``cosine`` and ``max_rel_error`` compare its outputs with its own eager
    fp32 outputs on the same inputs; ``on_front`` says that no other network
    of the same way and batch is both faster and more accurate.
    """

    device: str
    threads: int
    runtime: str
    precision: str
    batch: int
    network: str
    family: str
    published_top1: float
    top1_source: str
    params: int
    macs: int
    median_ms: Optional[float]
    p25_ms: Optional[float]
    p75_ms: Optional[float]
    repeats: Optional[int]
    max_rel_error: Optional[float]
    cosine: Optional[float]
    on_front: bool
    note: str


@dataclass
class Verdict:
    """Where MobileOne stands in one way: its curve's latency at each other network's top-1, over that network's.

    ``ratios`` are taken for the other networks whose top-1 lies within
    MobileOne's range, MobileOne's latency interpolated (in log latency)
    between its neighbouring archs; below 1 MobileOne is faster.
    """

    runtime: str
    precision: str
    batch: int
    compared: int
    geometric_mean: Optional[float]
    fastest_ratio: Optional[float]
    slowest_ratio: Optional[float]
    verdict: str


def build_network(name: str, seed: int = 0) -> nn.Module:
    """The whole classifier of ``name``, random weights with realistic BN statistics, re-parameterized, in eval mode."""
    torch.manual_seed(seed)
    if name.startswith('mobileone_'):
        model = Classifier(name.split('_')[1])
        make_realistic_(model.backbone, seed)
        fuse_mobileone_blocks(model.eval())
        return model
    import timm
    from timm.utils import reparameterize_model

    model = randomize_batch_norm_(timm.create_model(name, pretrained=False), seed).eval()
    return reparameterize_model(model, inplace=True)


def failed_ways(network: str, runtime: str, error: Exception) -> List[Candidate]:
    """Rows saying why ``runtime`` cannot run ``network``: an export or lowering that failed."""
    reason = str(error).splitlines()[0] if str(error) else ''
    return [Candidate(network, 'fused', runtime, precision, None, f'failed: {type(error).__name__}: {reason}'[:200])
            for precision in WAYS[runtime]]


def guarded(network: str, runtime: str, build: Callable[[], List[Candidate]]) -> List[Candidate]:
    """``build()``'s ways of ``runtime``, or rows saying why it failed: one network's failure stops no other."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - the rows report it
        return failed_ways(network, runtime, error)


def network_candidates(network: str, model: nn.Module, image_size: int, directory: str, threads: int,
                       calibration_images: int, runtimes: Sequence[str] = tuple(WAYS)) -> List[Candidate]:
    """The ways of :data:`WAYS` in ``runtimes`` to run ``model``, named after ``network``; its files in ``directory``.
    """
    os.makedirs(directory, exist_ok=True)
    onnx_file = osp.join(directory, 'model.onnx')

    def from_onnx(build: Callable[..., List[Candidate]]) -> Callable[[], List[Candidate]]:
        def ways() -> List[Candidate]:
            if not osp.exists(onnx_file):
                export_onnx(model, torch.zeros(1, 3, image_size, image_size), directory, dynamic_batch=True,
                            opset_version=INT8_OPSET)
            return build(onnx_file, image_size, threads, calibration_images)
        return ways

    builds = {'eager': lambda: [Candidate(network, 'fused', 'eager', 'fp32', eager(model))],
              'onnxruntime': from_onnx(onnxruntime_candidates), 'openvino': from_onnx(openvino_candidates),
              'executorch': lambda: executorch_candidates(model, image_size, directory, calibration_images)}
    return [dataclasses.replace(candidate, implementation=network)
            for runtime in runtimes for candidate in guarded(network, runtime, builds[runtime])]


def choice_row(device: torch.device, batch: int, network: Network, candidate: Candidate, params: int, macs: int,
               seconds: Optional[Sequence[float]], outputs: Optional[object], reference: object) -> ChoiceRow:
    timing = Timing.from_seconds(seconds) if seconds is not None else None
    error = cosine = None
    if outputs is not None:
        actual, expected = as_tensors(outputs), as_tensors(reference)
        error, cosine = relative_error(actual, expected), cosine_similarity(actual, expected)
    return ChoiceRow(device.type, torch.get_num_threads(), candidate.runtime, candidate.precision, batch,
                     network.name, network.family, network.published_top1, network.source, params, macs,
                     getattr(timing, 'median_ms', None), getattr(timing, 'p25_ms', None),
                     getattr(timing, 'p75_ms', None), getattr(timing, 'repeats', None), error, cosine, False,
                     candidate.note)


def benchmark_choice(config: BenchmarkConfig, networks: Sequence[Network] = NETWORKS,
                     image_size: int = IMAGE_SIZE) -> List[ChoiceRow]:
    """Times every network of ``networks`` every way on the CPU, the networks of one way in interleaved rounds."""
    device = torch.device('cpu')
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        models, ways, sizes = {}, {}, {}
        for network in tqdm(networks, desc='backbone choice: exports'):
            models[network.name] = build_network(network.name)
            sizes[network.name] = (count_parameters(models[network.name]),
                                   int(count_flops(models[network.name], image_size)['']))
            for candidate in network_candidates(network.name, models[network.name], image_size,
                                                osp.join(directory, network.name), torch.get_num_threads(),
                                                config.calibration_images):
                ways.setdefault((candidate.runtime, candidate.precision), {})[network.name] = candidate
        by_name = {network.name: network for network in networks}
        for batch in config.batch_sizes:
            inputs = torch.randn(batch, 3, image_size, image_size)
            references = {name: eager(model)(inputs) for name, model in models.items()}
            for candidates in tqdm(ways.values(), desc=f'backbone choice: batch {batch}'):
                candidates, outputs, seconds = time_way(candidates, inputs, device, config)
                rows += [choice_row(device, batch, by_name[name], candidate, *sizes[name], seconds.get(name),
                                    outputs.get(name), references[name]) for name, candidate in candidates.items()]
    mark_pareto_fronts(rows)
    return rows


def time_way(candidates: Dict[str, Candidate], inputs: torch.Tensor, device: torch.device, config: BenchmarkConfig
             ) -> Tuple[Dict[str, Candidate], Dict[str, object], Dict[str, List[float]]]:
    """The networks of one way timed in interleaved rounds on ``inputs``, those that cannot run noted.

    Returns:
        tuple: The candidates (those that cannot run without their run, with
        the reason, :func:`~.backbones.first_outputs`), each one's outputs
        and its times in seconds; none timed where none runs (e.g. a ``.pte``
        at batch 8).
    """
    outputs, untimed = first_outputs(candidates, inputs)
    calls = {name: (lambda run=candidates[name].run: run(inputs)) for name in outputs}
    seconds = time_interleaved(calls, device, config.warmup, config.repeats) if calls else {}
    return {**candidates, **untimed}, outputs, seconds


def mark_pareto_fronts(rows: Sequence[ChoiceRow]) -> None:
    """Marks, per runtime, precision and batch, the timed rows that no other beats in latency and top-1 both."""
    for way in {(row.runtime, row.precision, row.batch) for row in rows}:
        timed = [row for row in rows if (row.runtime, row.precision, row.batch) == way and row.median_ms is not None]
        for row in timed:
            row.on_front = not any(other.median_ms <= row.median_ms and other.published_top1 >= row.published_top1
                                   and (other.median_ms, other.published_top1) != (row.median_ms, row.published_top1)
                                   for other in timed)


def mobileone_latency_at(top1: float, curve: Sequence[ChoiceRow]) -> Optional[float]:
    """MobileOne's latency at ``top1``, interpolated in log latency between its archs; None outside their range."""
    curve = sorted(curve, key=lambda row: row.published_top1)
    for low, high in zip(curve, curve[1:]):
        if low.published_top1 <= top1 <= high.published_top1:
            fraction = (top1 - low.published_top1) / (high.published_top1 - low.published_top1)
            return math.exp(math.log(low.median_ms) + fraction * (math.log(high.median_ms) - math.log(low.median_ms)))
    return None


# A geometric mean of the ratios beyond these is "ahead" / "behind"; between them "level".
LEVEL_BAND = (0.9, 1.1)


def verdicts(rows: Sequence[ChoiceRow]) -> List[Verdict]:
    """Per runtime, precision and batch: MobileOne's latency at the other networks' top-1, over theirs."""
    results = []
    for way in sorted({(row.runtime, row.precision, row.batch) for row in rows}):
        timed = [row for row in rows if (row.runtime, row.precision, row.batch) == way and row.median_ms is not None]
        curve = [row for row in timed if row.family == MOBILEONE]
        ratios = [at / row.median_ms for row in timed if row.family != MOBILEONE
                  for at in [mobileone_latency_at(row.published_top1, curve)] if at is not None]
        if not ratios:
            results.append(Verdict(*way, 0, None, None, None, 'not compared: too few networks timed'))
            continue
        mean = math.exp(sum(math.log(ratio) for ratio in ratios) / len(ratios))
        verdict = 'ahead' if mean < LEVEL_BAND[0] else 'behind' if mean > LEVEL_BAND[1] else 'level'
        results.append(Verdict(*way, len(ratios), mean, min(ratios), max(ratios), verdict))
    return results


def plot_choice(rows: Sequence[ChoiceRow], runtime: str, precision: str, batch: int, path: str) -> None:
    """Latency against published top-1 of every network timed one way, MobileOne's curve and the Pareto front drawn."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    timed = [row for row in rows if (row.runtime, row.precision, row.batch) == (runtime, precision, batch)
             and row.median_ms is not None]
    figure, axes = plt.subplots(figsize=(7, 5))
    curve = sorted((row for row in timed if row.family == MOBILEONE), key=lambda row: row.published_top1)
    axes.plot([row.median_ms for row in curve], [row.published_top1 for row in curve], marker='o', color='tab:red',
              label='MobileOne S0..S4 (this package, fused)')
    others = [row for row in timed if row.family != MOBILEONE]
    axes.scatter([row.median_ms for row in others], [row.published_top1 for row in others], color='tab:blue',
                 label='timm (re-parameterized where timm offers it)')
    front = sorted((row for row in timed if row.on_front), key=lambda row: row.median_ms)
    axes.step([row.median_ms for row in front], [row.published_top1 for row in front], where='post', color='grey',
              linestyle='--', label='Pareto front')
    for row in timed:
        axes.annotate(row.network.replace('mobileone_', ''), (row.median_ms, row.published_top1),
                      textcoords='offset points', xytext=(4, 3), fontsize=7)
    axes.set(xlabel=f'latency (ms, batch {batch})', ylabel='published ImageNet-1k top-1 (%)', xscale='log',
             title=f'{runtime} {precision}, 224x224, CPU, {timed[0].threads if timed else "?"} threads')
    axes.grid(True, which='both', alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def choice_plots(rows: Sequence[ChoiceRow], out_dir: str) -> List[str]:
    """A plot per runtime, precision and batch that timed a network: ``choice_<runtime>_<precision>_b<batch>.png``."""
    paths = []
    for runtime, precision, batch in sorted({(row.runtime, row.precision, row.batch) for row in rows
                                             if row.median_ms is not None}):
        paths.append(osp.join(out_dir, f'choice_{runtime}_{precision}_b{batch}.png'))
        plot_choice(rows, runtime, precision, batch, paths[-1])
    return paths

