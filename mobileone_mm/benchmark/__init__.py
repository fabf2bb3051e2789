"""The benchmark behind ``tools/benchmark.py``: latency and size of MobileOne against mmpretrain's and timm's.

:mod:`.config` says what a run measures and :mod:`.run` runs it; :mod:`.backbones` and :mod:`.tasks`
time the models, :mod:`.timing` holds the timing method and the GEMM ceiling,
:mod:`.sizes` the parameter and FLOP counts, :mod:`.report` the tables, files
and plots.
"""
from .config import BenchmarkConfig
from .report import format_report, write_results
from .run import BenchmarkResult, run_benchmark

__all__ = ['BenchmarkConfig', 'BenchmarkResult', 'format_report', 'run_benchmark', 'write_results']
