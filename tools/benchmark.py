"""Benchmark MobileOne: latency of this package's, mmpretrain's and timm's, trained and fused, in one run.

For MobileOne s0..s4 (backbone only) at 224x224 it times the training form
and the re-parameterized form of each implementation in PyTorch eager, this
package's fused form compiled (``torch.compile``), in bf16 where the processor
has it, in ONNX Runtime fp32 and INT8, in OpenVINO f32, bf16 and INT8 (NNCF),
in ExecuTorch XNNPACK fp32 and INT8 (batch 1), each with its error against
fp32, and a training step, on the CPU and on CUDA when available; it times an fp32 GEMM
alone as the compute ceiling, beside the processor's fp32 peak, prints the
speed goals as ratios, and counts the classifier's parameters and FLOPs
against mmpretrain's published figures (``mobileone_mm/benchmark/``). It
prints the tables and writes ``latency.csv``, ``sizes.csv``, ``gemm.csv``,
``goals.csv`` (``tasks.csv`` with ``--tasks``), ``benchmark.json`` and
``latency_<device>_b<batch>.png`` into ``--out-dir``. With ``--choice`` it
also times whole ImageNet classifiers of MobileOne S0..S4 and timm's mobile
networks in every CPU runtime, and writes ``choice.csv``, ``verdicts.csv`` and
``choice_<runtime>_<precision>_b<batch>.png`` (latency against published
top-1, the Pareto front marked).

Run it on an otherwise idle machine; absolute times move between machines and
runs, so compare the ratios of one run.

Example:
    python tools/benchmark.py --out-dir work_dirs/benchmark
    python tools/benchmark.py --quick --out-dir /tmp/bench_smoke   # s0, batch 1, a few repeats
    python tools/benchmark.py --choice --archs s0 --out-dir work_dirs/choice   # the backbone choice
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse
import dataclasses
from pathlib import Path

import torch

from mobileone_mm.benchmark import BenchmarkConfig, format_report, run_benchmark, write_results
from mobileone_mm.models import ARCHS

CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs'  # the task models' configs, beside this tool


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--archs', nargs='+', choices=ARCHS, help='archs to measure (default: all)')
    parser.add_argument('--batch-sizes', nargs='+', type=int, help='inference batch sizes (default: 1 8)')
    parser.add_argument('--device', nargs='+', dest='devices', choices=['cpu', 'cuda'],
                        help='devices (default: cpu, and cuda when available)')
    parser.add_argument('--repeats', type=int, help='timed runs per inference measurement (default: 30)')
    parser.add_argument('--warmup', type=int, help='untimed runs before each measurement (default: 5)')
    parser.add_argument('--slow-repeats', type=int,
                        help='timed runs of a training step and of a task model (default: 10)')
    parser.add_argument('--train-batch-size', type=int, help='batch size of the training step (default: 8)')
    parser.add_argument('--gemm-size', type=int,
                        help='n of the n x n x n fp32 GEMM ceiling (default: 2048 on CPU, 8192 on CUDA)')
    parser.add_argument('--calibration-images', type=int,
                        help='random images the INT8 models (ONNX Runtime, OpenVINO, ExecuTorch) are calibrated on '
                        '(default: 16)')
    parser.add_argument('--threads', type=int, help='torch, ONNX Runtime and OpenVINO CPU threads (default: torch\'s)')
    parser.add_argument('--tasks', action='store_true', default=None,
                        help='also time RetinaNet and DeepLabV3 with MobileOne and ResNet backbones (slow)')
    parser.add_argument('--choice', action='store_true', default=None,
                        help="also time whole classifiers of MobileOne and timm's mobile networks in every CPU "
                        'runtime, with the Pareto plots (slow)')
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: s0, batch 1, 3 repeats, training step on 2 images; flags still override')
    parser.add_argument('--markdown', action='store_true', help='print markdown tables')
    parser.add_argument('--out-dir', default='work_dirs/benchmark', help='where the CSV, JSON and PNG files go')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    config = BenchmarkConfig.quick() if args.quick else BenchmarkConfig()
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(config)
                 if getattr(args, f.name, None) is not None}
    config = dataclasses.replace(config, **overrides, config_dir=str(CONFIG_DIR))
    if 'cuda' in config.devices and not torch.cuda.is_available():
        raise SystemExit('--device cuda: CUDA is not available')
    result = run_benchmark(config)
    print(format_report(result, args.markdown))
    for path in write_results(result, args.out_dir):
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
