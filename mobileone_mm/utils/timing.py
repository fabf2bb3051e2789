"""Timing on a noisy machine: repeated calls, interleaved rounds and paired ratios."""
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch


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
