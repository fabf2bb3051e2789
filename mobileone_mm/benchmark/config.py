"""What a benchmark run measures."""
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple

import torch

from ..models import ARCHS


def default_devices() -> Tuple[str, ...]:
    """The CPU, and CUDA when available."""
    return ('cpu', 'cuda') if torch.cuda.is_available() else ('cpu', )


@dataclass
class BenchmarkConfig:
    """What :func:`run_benchmark` measures.

    Args:
        archs (Sequence[str]): Archs to measure. Defaults to s0 .. s4.
        batch_sizes (Sequence[int]): Batch sizes of the inference forms.
            Defaults to (1, 8).
        devices (Sequence[str]): Devices, e.g. ``('cpu', 'cuda')``. Defaults
            to the CPU, and CUDA when available.
        repeats (int): Timed runs of each inference measurement. Defaults to 30.
        warmup (int): Untimed runs before them. Defaults to 5.
        slow_repeats (int): Timed runs of a training step and of a task model.
            Defaults to 10.
        train_batch_size (int): Batch size of the training step. Defaults to 8.
        gemm_size (int, optional): Size n of the n x n x n fp32 GEMM, or None
            for :data:`GEMM_SIZES` (2048 on the CPU, 8192 on CUDA).
            Defaults to None.
        calibration_images (int): Random images the ONNX Runtime INT8 model
            is calibrated on. Defaults to 16.
        tasks (bool): Also time RetinaNet and DeepLabV3. Defaults to False.
        choice (bool): Also time whole classifiers of MobileOne and timm's
            mobile networks in every CPU runtime (:mod:`.choice`). Defaults
            to False.
        config_dir (str, optional): This project's ``configs/`` folder, which
            ``tasks`` needs (it is not part of the installed package).
            Defaults to None.
    """

    archs: Sequence[str] = ARCHS
    batch_sizes: Sequence[int] = (1, 8)
    devices: Sequence[str] = field(default_factory=default_devices)
    repeats: int = 30
    warmup: int = 5
    slow_repeats: int = 10
    train_batch_size: int = 8
    gemm_size: Optional[int] = None
    calibration_images: int = 16
    tasks: bool = False
    choice: bool = False
    config_dir: Optional[str] = None

    @classmethod
    def quick(cls) -> 'BenchmarkConfig':
        """A smoke test: s0, batch 1, a few repeats, a training step on 2 images."""
        return cls(archs=('s0', ), batch_sizes=(1, ), repeats=3, warmup=1, slow_repeats=2, train_batch_size=2,
                   gemm_size=1024, calibration_images=2)
