"""Task models (classifiers, detectors, segmentors) built from their configs, offline and checked.

A config of mmpretrain, mmdet or mmseg names its framework by its
``default_scope``; the model is built with that framework's ``MODELS``
registry, with SyncBN turned back into BN so it runs on one CPU or GPU, and a
checkpoint is loaded strictly through mmengine's checkpoint loader (weights
only, with :mod:`mobileone_mm.compat.weights_only_checkpoint`'s allow-list).
"""
import copy
import importlib
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader

from ..testing.demo_data import make_scene
from ..utils.config import read_config
from ..utils.state_dict import describe_mismatches, shape_mismatches, strip_module_prefix, tensor_shapes

FUSED_FORM_KEY = 'model.backbone.deploy'  # the config option that builds the fused form


class CheckpointMismatchError(ValueError):
    """Raised for a checkpoint whose keys or shapes differ from the model's."""


def load_model_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """Reads a task config so that its model builds offline; arguments and errors as in :func:`read_config`.

    The backbone's ``init_cfg`` is dropped (nothing is downloaded; the
    checkpoint provides the weights) and a top-level ``data_preprocessor``
    goes into the model, as mmengine's ``Runner`` does.
    """
    cfg = read_config(config, cfg_options)
    if 'backbone' in cfg.model:
        cfg.model.backbone.init_cfg = None
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    return cfg


def build_model(cfg: Config, device: str = 'cpu') -> nn.Module:
    """Builds ``cfg.model`` with its framework's registry, SyncBN reverted to BN, in eval mode."""
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        registry = importlib.import_module(f'{cfg.default_scope}.registry').MODELS
        model = registry.build(cfg.model)
    model = revert_sync_batchnorm(model).to(device)
    model.eval()  # not chained: mmpretrain's MobileOne.train() returns None
    return model


def build_checkpoint_model(cfg: Config, checkpoint: str, device: str = 'cpu') -> nn.Module:
    """:func:`build_model` with ``checkpoint`` loaded into it by :func:`load_checkpoint_strictly`."""
    model = build_model(cfg, device)
    load_checkpoint_strictly(model, checkpoint)
    return model


def load_checkpoint_strictly(model: nn.Module, checkpoint: str) -> Dict[str, Any]:
    """Loads ``checkpoint`` into ``model``, refusing any missing, unexpected or reshaped key.

    Args:
        model (nn.Module): The model, as its config builds it.
        checkpoint (str): Path or URL of the checkpoint.

    Returns:
        dict: The loaded checkpoint (``state_dict``, ``meta``, ...).

    Raises:
        FileNotFoundError: If a local checkpoint does not exist.
        CheckpointMismatchError: If its state dict does not fit the model;
            the message names the keys.
    """
    loaded, state_dict = read_fitting_checkpoint(model, checkpoint)
    model.load_state_dict(state_dict, strict=True)
    return loaded


def read_fitting_checkpoint(model: nn.Module, checkpoint: str) -> Tuple[Dict[str, Any], Dict[str, torch.Tensor]]:
    """Reads ``checkpoint`` and checks that its state dict fits ``model`` exactly, without loading it.

    Returns:
        tuple[dict, dict]: The loaded checkpoint and its state dict
        (``module.`` prefixes stripped).

    Raises:
        FileNotFoundError: If a local checkpoint does not exist.
        IsADirectoryError: If it is a folder.
        CheckpointMismatchError: If its state dict does not fit the model;
            the message names the keys.
    """
    loaded = read_checkpoint(checkpoint)
    return loaded, fitting_state_dict(model, loaded, checkpoint)


def read_checkpoint(checkpoint: str) -> Dict[str, Any]:
    """Reads a checkpoint file or URL (weights-only, :mod:`mobileone_mm.compat.weights_only_checkpoint`).

    Raises:
        FileNotFoundError: If a local checkpoint does not exist.
        IsADirectoryError: If it is a folder.
    """
    if '://' not in checkpoint:
        if osp.isdir(checkpoint):
            raise IsADirectoryError(f'checkpoint {checkpoint} is a folder; give a checkpoint file (.pth)')
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint {checkpoint} does not exist')
    return CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu', logger='silent')


def fitting_state_dict(model: nn.Module, loaded: Dict[str, Any], checkpoint: str) -> Dict[str, torch.Tensor]:
    """The state dict of a read checkpoint (``module.`` prefixes stripped), checked to fit ``model`` exactly.

    Raises:
        CheckpointMismatchError: If it does not fit; the message names the keys.
    """
    state_dict = strip_module_prefix(loaded.get('state_dict', loaded))
    mismatch = state_dict_mismatch(model.state_dict(), state_dict)
    if mismatch:
        raise CheckpointMismatchError(f'checkpoint {checkpoint} does not match the model of the config: {mismatch}')
    return state_dict


def check_resumable(cfg: Config, checkpoint: str) -> None:
    """Checks, before a runner is built, that training can resume from ``checkpoint``: its state and its weights.

    Raises:
        ValueError: For a checkpoint without training state (a fused,
            converted or ImageNet one), which mmengine would fail on with a
            ``KeyError``.
        CheckpointMismatchError: For one whose weights do not fit the
            config's model (another model, another head size); mmengine would
            load it non-strictly and fail later.
    """
    loaded = read_checkpoint(checkpoint)
    missing = [key for key in ('meta', 'message_hub') if key not in loaded]
    if missing:
        raise ValueError(f'checkpoint {checkpoint} holds no training state ({", ".join(missing)} missing): --resume '
                         f'takes a checkpoint that training saved; to start from its weights use --cfg-options '
                         f'load_from={checkpoint}')
    fitting_state_dict(build_model(copy.deepcopy(cfg)), loaded, checkpoint)  # a copy: building may change it


def state_dict_mismatch(expected: Dict[str, torch.Tensor], found: Dict[str, torch.Tensor]) -> str:
    """Names a few missing, unexpected and reshaped keys of ``found``; empty when it loads strictly."""
    mismatch = describe_mismatches(shape_mismatches(tensor_shapes(found), tensor_shapes(expected)))
    if mismatch and any('.branch_reparam.' in key for key in found if key not in expected):
        mismatch += f'; the checkpoint is fused: build the model with {FUSED_FORM_KEY}=True'
    return mismatch


def example_inputs(model: nn.Module, image_size: int = 224, num_images: int = 1, seed: int = 0) -> torch.Tensor:
    """Demo scenes (shapes on a textured background) as the model's data preprocessor makes them.

    Images go in as mmcv loads them (BGR, uint8), so the preprocessor's
    normalisation gives the inputs a trained model sees.
    """
    rng = np.random.default_rng(seed)
    images = [torch.from_numpy(np.ascontiguousarray(make_scene(rng, image_size, num_objects=3).image[..., ::-1]))
              .permute(2, 0, 1) for _ in range(num_images)]
    return model.data_preprocessor(dict(inputs=images), False)['inputs']


@torch.no_grad()
def tensor_outputs(model: nn.Module, inputs: torch.Tensor) -> List[torch.Tensor]:
    """The model's raw outputs (``mode='tensor'``: logits, box and class maps, segment logits), flattened."""
    return flatten_tensors(model(inputs, mode='tensor'))


def flatten_tensors(outputs: Union[torch.Tensor, Sequence]) -> List[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [tensor for output in outputs for tensor in flatten_tensors(output)]


class TensorOutputs(nn.Module):
    """A model's outputs as one flat tuple of tensors: what an exported graph (ONNX, ``.pte``) returns.

    Args:
        model (nn.Module): The model.
        mode (str, optional): The ``mode`` its forward is called with:
            ``'tensor'`` for a task model's raw outputs (a classifier's
            logits, a dense detector's class and box maps per level, class
            maps of every level first, a segmentor's logits); None for a
            module that takes the input alone (a backbone). Defaults to
            'tensor'.
    """

    def __init__(self, model: nn.Module, mode: Optional[str] = 'tensor') -> None:
        super().__init__()
        self.model, self.mode = model, mode

    def forward(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outputs = self.model(inputs) if self.mode is None else self.model(inputs, mode=self.mode)
        return tuple(flatten_tensors(outputs))
