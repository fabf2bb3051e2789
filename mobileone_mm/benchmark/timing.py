"""Timing on a noisy machine: repeated calls, interleaved rounds and paired ratios, and the GEMM ceiling alone."""
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from .machine import Peak, cpu_fp32_peak

GEMM_SIZES = {'cpu': 2048, 'cuda': 8192}  # large enough to reach each device's fp32 peak


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
    """The fp32 GEMM ceiling of one device, timed alone, beside the device's fp32 peak where it is known.

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


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_repeated(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> Timing:
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


def time_interleaved(functions: Dict[str, Callable[[], object]], device: torch.device, warmup: int,
                        repeats: int, settle: int = 0) -> Dict[str, List[float]]:
    """Times the functions in turn, one call each per round, so that a slow spell of a noisy machine hits all alike.

    The order rotates from round to round, so that no function always follows
    the same one: what ran before changes the allocator's state (memory given
    back to the system costs page faults when taken again; docs/performance.md,
    "Method").

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
