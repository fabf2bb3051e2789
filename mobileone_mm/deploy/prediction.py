"""The prediction a deployed model is compared with: PyTorch's, on the input mmdeploy prepares.

Both checks of an export, ONNX Runtime's (:mod:`.export`) and the SDK's
(:mod:`.sdk`), compare with :func:`pytorch_prediction`.
"""
import copy
from typing import Tuple

import torch
import torch.nn as nn
from mmdeploy.utils import get_input_shape
from mmengine.config import Config
from mmengine.structures import BaseDataElement


def pytorch_prediction(reference: nn.Module, task_processor, deploy_cfg: Config, image: str,
                       at_network_size: bool = False) -> Tuple[dict, BaseDataElement]:
    """``reference``'s prediction on ``image``, preprocessed as mmdeploy prepares it for ``deploy_cfg``'s input shape.

    Args:
        reference (nn.Module): The checkpoint's model as the config builds it.
        task_processor: mmdeploy's task processor of the model and deploy configs.
        deploy_cfg (Config): The deploy config (its input shape, if static).
        image (str): The image.
        at_network_size (bool): Predict segmentations at the network's
            output resolution (:func:`at_network_resolution`) instead of the
            image's. Defaults to False.

    Returns:
        tuple[dict, BaseDataElement]: The preprocessed batch and the prediction.
    """
    data, _ = task_processor.create_input(image, get_input_shape(deploy_cfg))
    data = reference.data_preprocessor(data, False)
    if at_network_size:
        at_network_resolution(data['data_samples'])
    with torch.no_grad():
        return data, reference(data['inputs'], copy.deepcopy(data['data_samples']), mode='predict')[0]


def at_network_resolution(data_samples: list) -> None:
    """Makes segmentations be compared at the network's output resolution.

    From there mmseg resizes logits to the original image bilinearly, and
    mmdeploy resizes label maps nearest-neighbour: the two differ along class
    borders whatever the backend, so both skip the resize.
    """
    for data_sample in data_samples:
        data_sample.set_metainfo(dict(ori_shape=data_sample.img_shape))
