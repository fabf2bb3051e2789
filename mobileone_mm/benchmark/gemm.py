"""The compute ceiling: an fp32 GEMM timed alone, beside the device's fp32 peak."""
from dataclasses import dataclass
from typing import Optional

import torch

from ..utils.timing import time_repeated
from .machine import Peak, cpu_fp32_peak

GEMM_SIZES = {'cpu': 2048, 'cuda': 8192}  # large enough to reach each device's fp32 peak


@dataclass
class GemmRow:
    """The fp32 GEMM ceiling of one device, timed alone, beside the device's fp32 peak where it is known.

    The peak is the FMA rate at a clock (:func:`~.machine.cpu_fp32_peak`), an
    upper bound only where ``peak_is_upper_bound``.

    ``when`` is ``'start'`` or ``'end'`` of the device's measurements: the
    ceiling is the faster of the two, so that a slow spell during one does
    not inflate every "% of ceiling".
    """

    device: str
    threads: int
    when: str
    size: int
    median_ms: float
    gflops_per_s: float
    peak_gflops_per_s: Optional[float]
    peak_formula: str
    peak_is_upper_bound: bool


def gemm_ceiling(device: torch.device, size: int, repeats: int, when: str) -> GemmRow:
    """fp32 GFLOP/s of an n x n by n x n matrix product on ``device``, timed alone.

    Alone means nothing else runs in the process meanwhile and no ONNX
    Runtime session exists: its threads spin after each run, and a GEMM timed
    right after one ran at 246 instead of 395 GFLOP/s (docs/performance.md).
    """
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    timing = time_repeated(lambda: torch.mm(a, b), device, warmup=2, repeats=repeats)
    if device.type == 'cpu':
        peak = cpu_fp32_peak(torch.get_num_threads())
    else:
        peak = Peak(None, f'unknown for {torch.cuda.get_device_name(device)}')
    return GemmRow(device.type, torch.get_num_threads(), when, size, timing.median_ms,
                   2 * size**3 / (timing.median_ms * 1e-3) / 1e9, *peak)
