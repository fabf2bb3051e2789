"""One benchmark run (:func:`run_benchmark`) and everything it measured (:class:`BenchmarkResult`).

:func:`run_benchmark` measures, on each device, for each arch and batch size,
the backbone alone (stem and 4 stages, no head) at 224x224 in float32:

- the training form in eval mode and the re-parameterized (fused) form of
  this package's ``MobileOne``, mmpretrain's ``MobileOne`` and timm's
  ``mobileone_s*`` (fused by timm's own ``reparameterize_model``), in PyTorch
  eager under ``torch.inference_mode`` (:mod:`.backbones`);
- this package's fused form exported to ONNX (opset 11, TorchScript
  exporter) in ONNX Runtime's CPU provider, on the CPU only;
- one training step (forward and backward in train mode, no optimizer) of
  each implementation's training form, and of this package's with
  ``merged_training=False`` (every block branch by branch);
- an fp32 GEMM, the compute ceiling against which each form's effective
  GFLOP/s (2 x the fused form's multiply-accumulates per image x batch /
  latency) is put; it is timed in the same rounds as each inference form,
  and ``% GEMM`` is the median of the rounds' ratios, so that a slow spell of
  the machine during one measurement does not skew it (:mod:`.timing`);

and it counts the parameters and multiply-accumulates of the ImageNet
classifier (backbone, global average pooling, a 1000-way linear head) next to
the figures of mmpretrain's metafile, read from the installed mmpretrain
(:mod:`.sizes`). Optionally it times RetinaNet and DeepLabV3 with MobileOne
and with ResNet backbones (network forward only, no post-processing), in
PyTorch eager and, on the CPU, exported to ONNX in ONNX Runtime
(:mod:`.tasks`). Every model gets realistic weights (Kaiming convs, random BN
statistics) and denormals are flushed: with default BN statistics a random
MobileOne in eval mode runs into denormal floats, 100x slower on CPU. On
CUDA, TF32 is off, so that every form and the GEMM ceiling compute in true
fp32.

Example:
    >>> from mobileone_mm.benchmark import BenchmarkConfig, run_benchmark, write_results
    >>> result = run_benchmark(BenchmarkConfig.quick())
    >>> write_results(result, 'work_dirs/benchmark')
"""
import platform
from dataclasses import dataclass
from importlib.metadata import version
from typing import Dict, List, Sequence

import torch
from tqdm import tqdm

from ..utils.logging import quiet_mmengine_logger
from .backbones import LatencyRow, benchmark_arch
from .config import BenchmarkConfig
from .sizes import SizeRow, published_figures, size_row
from .tasks import TaskRow, benchmark_tasks, task_models
from .timing import GEMM_SIZES, GemmRow, gemm_call, gemm_ceiling


@dataclass
class BenchmarkResult:
    """Everything one run measured."""

    environment: Dict[str, object]
    config: BenchmarkConfig
    gemm: List[GemmRow]
    sizes: List[SizeRow]
    latency: List[LatencyRow]
    tasks: List[TaskRow]


def use_ieee_fp32_on_cuda() -> None:
    """No TF32 in CUDA convs and matmuls: every form and the GEMM ceiling compute in true fp32."""
    torch.backends.cudnn.conv.fp32_precision = 'ieee'
    torch.backends.cuda.matmul.fp32_precision = 'ieee'
    torch.backends.cudnn.benchmark = True


def environment(devices: Sequence[str]) -> Dict[str, object]:
    """Versions, processor and threads, for the record."""
    packages = ('torch', 'mmengine', 'mmcv', 'mmpretrain', 'timm', 'onnx', 'onnxruntime')
    info = dict(python=platform.python_version(), **{package: version(package) for package in packages},
                processor=cpu_name(), threads=torch.get_num_threads(), flush_denormal=True)
    if 'cuda' in devices:
        info['cuda_device'] = torch.cuda.get_device_name()
    return info


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            return next(line.split(':', 1)[1].strip() for line in cpuinfo if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor()


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
        result = BenchmarkResult(environment(config.devices), config, [], sizes, [], [])
        for device in devices:
            gemm = gemm_call(device, config.gemm_size or GEMM_SIZES[device.type])
            result.gemm.append(gemm_ceiling(gemm, device, config.repeats))
            with tqdm(total=len(sizes), desc=f'backbones on {device.type}') as progress:
                for size in sizes:
                    result.latency += benchmark_arch(size.arch, device, config, size, gemm, progress)
                    progress.update()
            if config.tasks:
                models = task_models(config.archs, config.config_dir)
                result.tasks += benchmark_tasks(device, models, config.slow_repeats)
    return result
