"""The speed goals of this package's fused backbone, as ratios of one run's measurements.

- fp32: the fastest way to run fused s4 at batch 8 in fp32 (eager,
  ``torch.compile`` or ONNX Runtime) reaches 85 % of the GEMM ceiling timed
  alone;
- reduced precision: the fastest bf16 or INT8 way runs fused s0 and s4 at
  batch 8 at least 2.5x faster than ONNX Runtime fp32, measured in the same
  rounds. Its metric is measured elsewhere (``tools/deploy.py`` for INT8 on
  the demo checkpoints); here its cosine to fp32 is reported beside it.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

from .backbones import LatencyRow

FP32_CEILING_PCT = 85.0
FP32_CEILING_ARCHS = ('s4', )
REDUCED_PRECISION_SPEEDUP = 2.5
REDUCED_PRECISION_ARCHS = ('s0', 's4')
GOAL_BATCH = 8
REDUCED_PRECISIONS = ('bf16', 'int8')


@dataclass
class GoalRow:
    """One goal on one device and arch: what was measured, by which way, against what target."""

    device: str
    goal: str
    arch: str
    batch: int
    best: str
    measured: float
    target: float
    met: bool
    cosine: Optional[float]


def way(row: LatencyRow) -> str:
    return f'{row.runtime} {row.precision}'


def fastest(rows: Sequence[LatencyRow]) -> Optional[LatencyRow]:
    timed = [row for row in rows if row.median_ms is not None]
    return min(timed, key=lambda row: row.median_ms) if timed else None


def goals(rows: Sequence[LatencyRow]) -> List[GoalRow]:
    """The goals that ``rows`` (one device's latency rows) measure: an arch or batch not measured has no goal row."""
    ours = [row for row in rows if (row.implementation, row.form, row.batch) == ('mobileone_mm', 'fused', GOAL_BATCH)]
    results = []
    for arch in FP32_CEILING_ARCHS:
        best = fastest([row for row in ours if row.arch == arch and row.precision == 'fp32'])
        if best is not None:
            results.append(GoalRow(best.device, '% of GEMM ceiling, fastest fp32', arch, GOAL_BATCH, way(best),
                                   best.ceiling_pct, FP32_CEILING_PCT, best.ceiling_pct >= FP32_CEILING_PCT,
                                   best.cosine))
    for arch in REDUCED_PRECISION_ARCHS:
        onnxruntime = fastest([row for row in ours if row.arch == arch and way(row) == 'onnxruntime fp32'])
        best = fastest([row for row in ours if row.arch == arch and row.precision in REDUCED_PRECISIONS])
        if onnxruntime is not None and best is not None:
            speedup = onnxruntime.median_ms / best.median_ms
            results.append(GoalRow(best.device, 'speed-up vs ONNX Runtime fp32, bf16/INT8', arch,
                                   GOAL_BATCH, way(best), speedup, REDUCED_PRECISION_SPEEDUP,
                                   speedup >= REDUCED_PRECISION_SPEEDUP, best.cosine))
    return results
