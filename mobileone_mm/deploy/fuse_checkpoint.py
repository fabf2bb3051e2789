"""Re-parameterize a trained checkpoint into one for the fused form of its config.

The fused checkpoint loads strictly into the model the same config builds
with ``model.backbone.deploy=True``; before anything is written, that model is
run on demo images beside the training form and their outputs must agree.
"""
from dataclasses import dataclass
from typing import Optional, Union

import torch
from mmengine.config import Config

from ..models import MobileOneBlock, reparameterize_model
from ..utils.config import config_name
from ..utils.files import check_output_path, save_atomically
from ..utils.numerics import relative_error
from .task_models import (FUSED_FORM_KEY, build_model, example_inputs, load_checkpoint_strictly, load_model_config,
                          tensor_outputs)

TOLERANCE = 1e-5
PRECISIONS = dict(float32=torch.float32, float64=torch.float64)


class ReparameterizationError(RuntimeError):
    """Raised when the fused model's outputs differ from the training form's beyond the tolerance."""


@dataclass
class FusedCheckpoint:
    """What :func:`fuse_checkpoint` wrote and measured.

    Attributes:
        path (str): The fused checkpoint.
        num_blocks (int): MobileOne blocks fused.
        relative_error (float): Worst relative difference between the
            outputs of the fused form (loaded from the fused state dict) and
            the training form.
    """
    path: str
    num_blocks: int
    relative_error: float


def fuse_checkpoint(config: Union[str, Config],
                    checkpoint: str,
                    out: str,
                    cfg_options: Optional[dict] = None,
                    image_size: int = 224,
                    precision: str = 'float64',
                    tolerance: float = TOLERANCE) -> FusedCheckpoint:
    """Fuses every MobileOne block of a checkpoint and writes ``{'state_dict', 'meta'}`` to ``out``.

    Works for models of mmpretrain, mmdet and mmseg, also trained with SyncBN.
    The kernels are fused in float64 and stored in float32. The comparison
    runs on demo images through the model's data preprocessor, in
    ``precision``: float64 judges the fusion alone; float32 is how the model
    runs, and a deep network amplifies float32 rounding through its depth,
    whichever form computes it (the demo's trained S0 classifier: 1.1e-5; see
    the README's "Correctness"). ``out`` is written
    atomically (a temporary file renamed) and only when the outputs agree;
    its ``meta`` is the checkpoint's, with ``reparameterized``: the source
    checkpoint, the relative error and the precision of the check.

    Args:
        config (str | Config): The config the checkpoint was trained with.
        checkpoint (str): The trained checkpoint (training form).
        out (str): Where to write the fused checkpoint; not ``checkpoint``.
        cfg_options (dict, optional): Config overrides. Defaults to None.
        image_size (int): Side of the square demo images. Defaults to 224.
        precision (str): ``'float32'`` or ``'float64'``, the arithmetic of
            the comparison. Defaults to ``'float64'``.
        tolerance (float): Largest relative difference accepted.
            Defaults to 1e-5.

    Returns:
        FusedCheckpoint: The path, the number of fused blocks and the error.

    Raises:
        ValueError: If ``out`` is ``checkpoint``, or the model has no
            MobileOne block left to fuse.
        IsADirectoryError: If ``out`` is a folder.
        FileNotFoundError: If the checkpoint or ``out``'s folder does not
            exist.
        CheckpointMismatchError: If the checkpoint does not fit the config.
        ReparameterizationError: If the outputs differ beyond ``tolerance``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {sorted(PRECISIONS)}, got {precision!r}')
    check_output_path(out, checkpoint)
    cfg = load_model_config(config, cfg_options)
    model = build_model(cfg)
    loaded = load_checkpoint_strictly(model, checkpoint)
    num_blocks = sum(isinstance(m, MobileOneBlock) and not m.deploy for m in model.modules())
    if num_blocks == 0:
        raise ValueError(f'the model of {config_name(cfg)} has no MobileOne block in the training form: nothing '
                         'to fuse')

    dtype = PRECISIONS[precision]
    inputs = example_inputs(model, image_size).to(dtype)
    expected = tensor_outputs(model.to(dtype), inputs)
    fused_state_dict = reparameterize_model(model.double()).state_dict()
    fused_model = build_model(load_model_config(cfg, {FUSED_FORM_KEY: True})).to(dtype)
    fused_model.load_state_dict(fused_state_dict, strict=True)
    error = relative_error(tensor_outputs(fused_model, inputs), expected)
    if error > tolerance:
        raise ReparameterizationError(f'the fused model differs from the training form by {error:.1e} (relative, '
                                      f'limit {tolerance:.0e}); {out} not written')

    meta = dict(loaded.get('meta') or {},
                reparameterized=dict(source=checkpoint, relative_error=error, precision=precision))
    save_atomically(dict(state_dict=fused_model.float().state_dict(), meta=meta), out)
    return FusedCheckpoint(out, num_blocks, error)
