"""Latency of whole task models: RetinaNet and DeepLabV3 with MobileOne and with ResNet backbones."""
import dataclasses
import os.path as osp
import tempfile
from dataclasses import dataclass
from typing import List, NamedTuple, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.utils import get_installed_path
from tqdm import tqdm

from ..deploy.task_models import build_model, load_model_config
from ..models import MobileOne
from ..testing.equivalence import fused_copy
from ..testing.weights import randomize_batch_norm_
from ..utils.timing import Timing, time_repeated
from .ort_sessions import onnx_session
from .sizes import count_parameters

DETECTION_INPUT = (800, 1344)  # mmdet's test scale (1333, 800), padded to a multiple of 32
SEGMENTATION_INPUT = (512, 512)


@dataclass
class TaskRow:
    """Latency of one task model's network forward (``mode='tensor'``, no post-processing).

    ``form`` is ``train`` or ``fused`` (MobileOne, PyTorch eager), ``eval``
    (ResNet, PyTorch eager) or ``onnxruntime`` (the fused or ResNet model
    exported to ONNX, in ONNX Runtime's CPU provider).
    """

    device: str
    threads: int
    task: str
    backbone: str
    form: str
    input_hw: str
    params: int
    median_ms: float
    p25_ms: float
    p75_ms: float
    min_ms: float
    max_ms: float
    repeats: int


class TaskModel(NamedTuple):
    """A detector or segmentor to time: its config file and input size."""

    task: str
    backbone: str
    config: str
    input_hw: Tuple[int, int]


class TaskNetwork(nn.Module):
    """A detector's or segmentor's network forward (``mode='tensor'``) as a module of one tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> object:
        return self.model(x, mode='tensor')


def task_models(archs: Sequence[str], config_dir: str, detection_input: Tuple[int, int] = DETECTION_INPUT,
                segmentation_input: Tuple[int, int] = SEGMENTATION_INPUT) -> List[TaskModel]:
    """The task models to time for ``archs``, this package's configs read from ``config_dir``.

    RetinaNet with each MobileOne arch and with mmdet's ResNet-18 and
    ResNet-50; DeepLabV3 (output stride 8, VOC) with each MobileOne arch and
    with mmseg's ResNet-50.
    """
    def framework_config(package: str, path: str) -> str:
        return osp.join(get_installed_path(package), '.mim', 'configs', path)

    models = [TaskModel('RetinaNet', f'MobileOne-{arch}', osp.join(config_dir, f'retinanet_mobileone_{arch}_coco.py'),
                        detection_input) for arch in archs]
    models += [TaskModel('RetinaNet', f'ResNet-{depth}',
                         framework_config('mmdet', f'retinanet/retinanet_r{depth}_fpn_1x_coco.py'), detection_input)
               for depth in (18, 50)]
    models += [TaskModel('DeepLabV3', f'MobileOne-{arch}',
                         osp.join(config_dir, f'deeplabv3_mobileone_{arch}_d8_4xb4_20k_voc12aug_512x512.py'),
                         segmentation_input) for arch in archs]
    models.append(TaskModel('DeepLabV3', 'ResNet-50',
                            framework_config('mmseg', 'deeplabv3/deeplabv3_r50-d8_4xb4-20k_voc12aug-512x512.py'),
                            segmentation_input))
    return models


def benchmark_tasks(device: torch.device, models: Sequence[TaskModel], repeats: int) -> List[TaskRow]:
    """Batch-1 network forward of task models: MobileOne in its training and fused forms, ResNet as it is.

    Each model is built from its config without pretrained weights and gets
    random BN statistics; one untimed run precedes the ``repeats`` timed ones.
    On the CPU, the fused form of a MobileOne model and the ResNet models
    are also exported to ONNX and timed in ONNX Runtime.
    """
    rows = []
    for task in tqdm(models, desc=f'tasks on {device.type}'):
        model = build_model(load_model_config(task.config), device.type)
        randomize_batch_norm_(model)
        forms = {'eval': model}
        if any(isinstance(module, MobileOne) for module in model.modules()):
            forms = {'train': model, 'fused': fused_copy(model)}
        inputs = torch.randn(1, 3, *task.input_hw, device=device)
        timings = {}
        for form, form_model in forms.items():
            with torch.inference_mode():
                timings[form] = time_repeated(lambda: form_model(inputs, mode='tensor'), device, 1, repeats)
        params = {form: count_parameters(form_model) for form, form_model in forms.items()}
        if device.type == 'cpu':
            fused = list(forms.values())[-1]
            timings['onnxruntime'] = onnxruntime_task_timing(fused, inputs, repeats)
            params['onnxruntime'] = count_parameters(fused)
        rows += [TaskRow(device.type, torch.get_num_threads(), task.task, task.backbone, form,
                         'x'.join(map(str, task.input_hw)), params[form], **dataclasses.asdict(timing))
                 for form, timing in timings.items()]
    return rows


def onnxruntime_task_timing(model: nn.Module, inputs: torch.Tensor, repeats: int) -> Timing:
    """Latency of a task model's network forward exported to ONNX, in ONNX Runtime on the CPU."""
    with tempfile.TemporaryDirectory() as directory:
        session = onnx_session(TaskNetwork(model), inputs, directory, torch.get_num_threads())
        feed = {'input': inputs.numpy()}
        return time_repeated(lambda: session.run(None, feed), torch.device('cpu'), 1, repeats)
