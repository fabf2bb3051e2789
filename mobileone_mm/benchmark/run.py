"""One benchmark run (:func:`run_benchmark`) and everything it measured (:class:`BenchmarkResult`).

:func:`run_benchmark` measures, on each device, for each arch and batch size,
the backbone alone (stem and 4 stages, no head) at 224x224 in float32:

- the training form in eval mode and the re-parameterized (fused) form of
  this package's ``MobileOne``, mmpretrain's ``MobileOne`` and timm's
  ``mobileone_s*`` (fused by timm's own ``reparameterize_model``), in PyTorch
  eager under ``torch.inference_mode`` (:mod:`.backbones`);
- this package's fused form in the other ways a user can run it
  (:mod:`.runtimes`): ``torch.compile`` (inductor, frozen weights), eager
  bf16 autocast where the processor computes bf16 in hardware, and, on the
  CPU, exported to ONNX (opset 13, TorchScript exporter) in ONNX Runtime's
  CPU provider in fp32 and quantized to INT8, the same export in OpenVINO in
  f32, bf16 (where the processor computes it) and NNCF's INT8, and lowered
  to ExecuTorch's XNNPACK in fp32 and INT8 (batch 1), each with its outputs'
  relative error and cosine against the training form in fp32 eager;
- one training step (forward and backward in train mode, no optimizer) of
  each implementation's training form, and of this package's with
  ``merged_training=False`` (every block branch by branch);
- an fp32 GEMM, the compute ceiling against which each form's effective
  GFLOP/s (2 x the fused form's multiply-accumulates per image x batch /
  latency) is put; it is timed alone, before and after the device's models
  (the faster of the two is the ceiling), beside the processor's fp32 peak
  (:mod:`.timing`, :mod:`.machine`);

and it counts the parameters and multiply-accumulates of the ImageNet
classifier (backbone, global average pooling, a 1000-way linear head) next to
the figures of mmpretrain's metafile, read from the installed mmpretrain
(:mod:`.sizes`). Optionally it times RetinaNet and DeepLabV3 with MobileOne
and with ResNet backbones (network forward only, no post-processing), in
PyTorch eager and, on the CPU, exported to ONNX in ONNX Runtime
(:mod:`.tasks`), and whole classifiers of MobileOne and timm's mobile
networks in every CPU runtime, for the choice of a backbone (:mod:`.choice`).
ONNX Runtime's threads do not spin between runs, so that
they do not slow whatever is timed next. Every model gets realistic weights
(Kaiming convs, random BN statistics) and denormals are flushed: with default BN statistics a random
MobileOne in eval mode runs into denormal floats, 100x slower on CPU. On
CUDA, TF32 is off, so that every form and the GEMM ceiling compute in true
fp32.

Example:
    >>> from mobileone_mm.benchmark import BenchmarkConfig, run_benchmark, write_results
    >>> result = run_benchmark(BenchmarkConfig.quick())
    >>> write_results(result, 'work_dirs/benchmark')
"""
import gc
import platform
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Dict, List, Sequence

import torch
from tqdm import tqdm

from ..utils.logging import quiet_mmengine_logger
from .backbones import LatencyRow, benchmark_arch, fill_ceiling_pct
from .choice import ChoiceRow, Verdict, benchmark_choice, verdicts
from .config import BenchmarkConfig
from .gemm import GEMM_SIZES, GemmRow, gemm_ceiling
from .goals import GoalRow, goals
from .machine import RECORDED_FLAGS, cpu_flags, cpu_name
from .sizes import SizeRow, published_figures, size_row
from .tasks import TaskRow, benchmark_tasks, task_models


@dataclass
class BenchmarkResult:
    """Everything one run measured."""

    environment: Dict[str, object]
    config: BenchmarkConfig
    gemm: List[GemmRow]
    sizes: List[SizeRow]
    latency: List[LatencyRow]
    tasks: List[TaskRow]
    goals: List[GoalRow]
    choice: List[ChoiceRow] = field(default_factory=list)
    verdicts: List[Verdict] = field(default_factory=list)


def use_ieee_fp32_on_cuda() -> None:
    """No TF32 in CUDA convs and matmuls: every form and the GEMM ceiling compute in true fp32."""
    torch.backends.cudnn.conv.fp32_precision = 'ieee'
    torch.backends.cuda.matmul.fp32_precision = 'ieee'
    torch.backends.cudnn.benchmark = True


def environment(devices: Sequence[str]) -> Dict[str, object]:
    """Versions, processor, its flags that matter here, and threads, for the record."""
    packages = ('torch', 'mmengine', 'mmcv', 'mmpretrain', 'timm', 'onnx', 'onnxruntime', 'openvino', 'nncf',
                'executorch')
    flags = sorted(cpu_flags() & set(RECORDED_FLAGS))
    info = dict(python=platform.python_version(), **{package: version(package) for package in packages},
                processor=cpu_name(), cpu_flags=flags, threads=torch.get_num_threads(), flush_denormal=True)
    if 'cuda' in devices:
        info['cuda_device'] = torch.cuda.get_device_name()
    return info


def run_benchmark(config: BenchmarkConfig) -> BenchmarkResult:
    """Measures everything :class:`BenchmarkConfig` asks for, in this process.

    Raises:
        ValueError: For an arch without published figures, or ``tasks``
            without ``config_dir``.
    """
    if config.tasks and config.config_dir is None:
        raise ValueError("timing the task models ('tasks') needs config_dir, this project's configs/ folder")
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
        result = BenchmarkResult(environment(config.devices), config, [], sizes, [], [], [])
        for device in devices:
            gemm_size = config.gemm_size or GEMM_SIZES[device.type]
            gemm = [gemm_ceiling(device, gemm_size, config.repeats, 'start')]
            rows = []
            with tqdm(total=len(sizes), desc=f'backbones on {device.type}') as progress:
                for size in sizes:
                    rows += benchmark_arch(size.arch, device, config, size, progress)
                    progress.update()
            gc.collect()  # the archs' ONNX Runtime sessions are closed before the GEMM is timed alone again
            gemm.append(gemm_ceiling(device, gemm_size, config.repeats, 'end'))
            fill_ceiling_pct(rows, max(row.gflops_per_s for row in gemm))
            result.gemm += gemm
            result.latency += rows
            result.goals += goals(rows)
            if config.tasks:
                models = task_models(config.archs, config.config_dir)
                result.tasks += benchmark_tasks(device, models, config.slow_repeats)
        if config.choice:
            result.choice = benchmark_choice(config)
            result.verdicts = verdicts(result.choice)
    return result
