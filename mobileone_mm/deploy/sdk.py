"""mmdeploy's SDK (``mmdeploy-runtime`` 1.3.1) on an exported directory, its predictions as mm data samples.

``tools/deploy.py --dump-info`` (this project's or mmdeploy's) writes the
SDK's ``deploy.json``, ``pipeline.json`` and ``detail.json`` beside
``end2end.onnx``; :class:`SDKModel` runs that directory on images as they
are read from disk (BGR, original size), preprocessing and postprocessing
included, and returns what the task's framework returns: an mmpretrain
``DataSample``, an mmdet ``DetDataSample`` or an mmseg ``SegDataSample``.

mmdeploy-runtime 1.3.1 is built with the pybind11 of mmdeploy v1.3.1's
``third_party/pybind11`` (commit 1a917f1), older than pybind11 2.12, the
first to read numpy 2's ``PyArray_Descr``: under numpy 2 (which this stack
needs) the arrays its Python API builds from a shape get zero strides.
Measured here: ``Detector``'s labels hold one int, so every detection gets
the last one's label (the others are lost), and ``Segmentor``'s map
repeats its first value, while boxes and scores are right. So detections
come from the SDK's ``Pipeline`` API, which hands them over as Python
values, and a segmentation is read again from the SDK's buffer (which is
whole) with C-contiguous strides. ``Classifier`` returns Python tuples and is
used as it is. Delete the workarounds once mmdeploy-runtime is built with
pybind11 >= 2.12.
"""
from typing import Optional

import mmcv
import numpy as np
import torch
import torch.nn as nn
from mmdeploy.apis import build_task_processor
from mmdeploy_runtime import Classifier, Context, Device, Model, Pipeline, Segmentor
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import BaseDataElement, InstanceData, PixelData
from mmpretrain.structures import DataSample
from mmseg.structures import SegDataSample

from .agreement import Agreement, detection_agreement, segmentation_agreement, top1_agreement
from .prediction import pytorch_prediction
from .task_models import build_checkpoint_model

SDK_AGREEMENT_BY_TASK = {'Classification': top1_agreement, 'ObjectDetection': detection_agreement,
                         'Segmentation': segmentation_agreement}
SDK_TASKS = tuple(SDK_AGREEMENT_BY_TASK)
# What an SDKModel prediction holds, by mmdeploy task (what the dataloader's data samples lack for the evaluator).
PREDICTION_FIELDS = {'Classification': ('pred_label', 'pred_top1_score'), 'ObjectDetection': ('pred_instances', ),
                     'Segmentation': ('pred_sem_seg', )}


class SDKModel:
    """An SDK model directory, called on BGR images of any size.

    Args:
        model_dir (str): The directory ``tools/deploy.py --dump-info``
            wrote.
        task (str): mmdeploy's task name: ``'Classification'``,
            ``'ObjectDetection'`` or ``'Segmentation'``.
        device (str): The SDK's device name. Defaults to 'cpu'.

    Example:
        >>> model = SDKModel('work_dirs/retina_onnx', 'ObjectDetection')
        >>> model(mmcv.imread('demo.jpg')).pred_instances.labels
    """

    def __init__(self, model_dir: str, task: str, device: str = 'cpu') -> None:
        if task not in SDK_TASKS:
            raise ValueError(f'task {task!r} is not one of {list(SDK_TASKS)}')
        self.task = task
        if task == 'Classification':
            self.runtime = Classifier(model_path=model_dir, device_name=device, device_id=0)
        elif task == 'ObjectDetection':
            inference = dict(type='Inference', input='img', output='detections', params=dict(model=Model(model_dir)))
            self.runtime = Pipeline(inference, Context(Device(device)))
        else:
            self.runtime = Segmentor(model_path=model_dir, device_name=device, device_id=0)

    def __call__(self, image: np.ndarray) -> BaseDataElement:
        """Predicts on one BGR ``uint8`` image of shape ``(H, W, 3)``, at its size."""
        if self.task == 'Classification':
            label, score = self.runtime(image)[0]  # the top-1 (the pipeline's topk is 1)
            sample = DataSample().set_pred_label(label)
            sample.pred_top1_score = torch.tensor(score)
            return sample
        if self.task == 'ObjectDetection':
            return detections_as_sample(self.runtime(dict(ori_img=image))[0])
        return segmentation_as_sample(self.runtime(image))


def detections_as_sample(detections: list) -> DetDataSample:
    """The SDK pipeline's detections (dicts of ``bbox``, ``score``, ``label_id``) as a ``DetDataSample``."""
    instances = InstanceData()
    instances.bboxes = torch.tensor([detection['bbox'] for detection in detections], dtype=torch.float32).reshape(-1, 4)
    instances.scores = torch.tensor([detection['score'] for detection in detections], dtype=torch.float32)
    instances.labels = torch.tensor([detection['label_id'] for detection in detections], dtype=torch.int64)
    return DetDataSample(pred_instances=instances)


def segmentation_as_sample(output: np.ndarray) -> SegDataSample:
    """``Segmentor``'s output, a label map ``(H, W)`` or scores ``(C, H, W)``, as a ``SegDataSample``.

    The array's strides are rebuilt (see the module's docstring); its buffer is the SDK's, kept
    alive by the array's base, so it is copied out.
    """
    strides = tuple(int(np.prod(output.shape[i + 1:])) * output.itemsize for i in range(output.ndim))
    values = np.lib.stride_tricks.as_strided(output, strides=strides).copy()
    labels = values.argmax(0) if values.ndim == 3 else values
    return SegDataSample(pred_sem_seg=PixelData(data=torch.from_numpy(labels.astype(np.int64))[None]))


def check_sdk(model_dir: str, deploy_cfg: Config, model_cfg: Config, checkpoint: str, image: str,
              device: str = 'cpu', reference: Optional[nn.Module] = None) -> Agreement:
    """Compares the SDK's prediction on ``image`` with PyTorch's, both at the image's original size.

    PyTorch runs the checkpoint through the model config's test pipeline (as
    mmdeploy prepares it for ``deploy_cfg``'s input shape, which is what the
    SDK's ``pipeline.json`` is made of) and its own postprocessing; its
    boxes are clamped as the SDK clamps them (:func:`clamp_as_the_sdk_does_`).

    Args:
        model_dir (str): The directory ``tools/deploy.py --dump-info`` wrote.
        deploy_cfg (Config): The deploy config it was exported with.
        model_cfg (Config): The model config, as ``load_model_config`` reads it.
        checkpoint (str): The checkpoint it was exported from.
        image (str): The image.
        device (str): Device of PyTorch and the SDK. Defaults to 'cpu'.
        reference (nn.Module, optional): The checkpoint's model as the
            config builds it; built and loaded here when None.

    Returns:
        Agreement: Top-1 label and score, detections, or pixels; see
        :mod:`mobileone_mm.deploy.agreement`.
    """
    task = deploy_cfg.codebase_config.task
    reference = build_checkpoint_model(model_cfg, checkpoint, device) if reference is None else reference
    with DefaultScope.overwrite_default_scope(model_cfg.default_scope):
        _, expected = pytorch_prediction(reference, build_task_processor(model_cfg, deploy_cfg, device), deploy_cfg,
                                         image)
    image = mmcv.imread(image)
    if task == 'ObjectDetection':
        clamp_as_the_sdk_does_(expected.pred_instances.bboxes, image.shape[:2])
    return SDK_AGREEMENT_BY_TASK[task](expected, SDKModel(model_dir, task, device)(image))


def clamp_as_the_sdk_does_(bboxes: torch.Tensor, image_shape: tuple) -> None:
    """Clamps right and bottom box edges to ``W - 1`` and ``H - 1``, as the SDK does; mmdet clamps them to ``W, H``.

    mmdeploy 1.3.1's ``csrc/mmdeploy/codebase/mmdet/utils.cpp`` (``MapToOriginImage``)
    clamps to the last pixel: a small box at the border loses up to 2 % IoU to it.
    """
    height, width = image_shape
    bboxes[:, 2].clamp_(max=width - 1)
    bboxes[:, 3].clamp_(max=height - 1)
