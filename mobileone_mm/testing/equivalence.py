"""Equivalence checks: the fused form against the training form, and this MobileOne against mmpretrain's."""
import copy
from typing import Dict

import torch
import torch.nn as nn

from ..models import MobileOne, MobileOneBlock, fuse_mobileone_blocks
from ..utils.numerics import relative_error
from .weights import make_realistic_


def fused_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every MobileOne block fused."""
    fused = copy.deepcopy(model)
    fuse_mobileone_blocks(fused)
    return fused


@torch.no_grad()
def reparameterization_error(model: nn.Module, inputs: torch.Tensor) -> float:
    """Relative error between ``model`` (eval mode) and a fused copy on ``inputs``.

    Run it in float64 to judge the fusion itself: in float32 a deep random
    network amplifies each layer's rounding (1e-7) to 1e-5 .. 1e-3 at its
    output, whichever form computes it.
    """
    model.eval()
    return relative_error(fused_copy(model)(inputs), model(inputs))


@torch.no_grad()
def blockwise_reparameterization_error(model: nn.Module, inputs: torch.Tensor) -> float:
    """Worst relative error of any fused block against its train form, on the activations it sees.

    Each :class:`MobileOneBlock` of ``model`` is fed the input it receives when
    ``model`` runs on ``inputs``, so the error is that of the fusion alone, in
    the model's own precision, without the amplification through depth.
    """
    model.eval()
    seen = {}
    hooks = [block.register_forward_hook(lambda block, args, output: seen.__setitem__(block, (args[0], output)))
             for block in model.modules() if isinstance(block, MobileOneBlock)]
    try:
        model(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return max(relative_error(fused_copy(block)(block_input), output)
               for block, (block_input, output) in seen.items())


@torch.no_grad()
def compare_with_mmpretrain(arch: str, inputs: torch.Tensor, seed: int = 0) -> Dict[str, float]:
    """Loads one state dict into mmpretrain's MobileOne and this one and compares them.

    Args:
        arch (str): 's0' .. 's4'.
        inputs (Tensor): Images of shape (N, 3, H, W); their dtype is the
            precision of the comparison.
        seed (int): Seed of the weights and BN statistics.

    Returns:
        dict: Relative errors ``train`` (the train forms; 0 in any precision,
        as both sum the branches in the same order), ``deploy`` (both fused by
        their own code) and ``reparam`` (this model fused against unfused).
    """
    from mmpretrain.models.backbones import MobileOne as MMPretrainMobileOne

    reference = make_realistic_(MMPretrainMobileOne(arch, out_indices=(0, 1, 2, 3)), seed).to(inputs.dtype)
    model = MobileOne(arch, out_indices=(0, 1, 2, 3)).to(inputs.dtype)
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval()

    expected, actual = reference(inputs), model(inputs)
    errors = dict(train=relative_error(actual, expected))
    reference.switch_to_deploy()
    model.switch_to_deploy()
    errors['deploy'] = relative_error(model(inputs), reference(inputs))
    errors['reparam'] = relative_error(model(inputs), expected)
    return errors
