"""Numerical checks: re-parameterization error and agreement with mmpretrain's MobileOne."""
import copy
from typing import Dict, Sequence, Union

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from .mobileone import MobileOne, MobileOneBlock
from .reparameterize import reparameterize_model

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def relative_error(actual: Outputs, expected: Outputs) -> float:
    """Largest absolute difference over the largest magnitude of ``expected``.

    Judging relative to the activations' magnitude matters: random-init
    MobileOne activations reach 1e5, where an absolute tolerance means nothing.
    Sequences (multi-scale outputs) give the worst error of their members.
    """
    if isinstance(actual, torch.Tensor):
        actual, expected = [actual], [expected]
    if len(actual) != len(expected):
        raise ValueError(f'{len(actual)} outputs compared with {len(expected)}')
    return max(((a.double() - e.double()).abs().max() / e.double().abs().max().clamp_min(1e-30)).item()
               for a, e in zip(actual, expected))


@torch.no_grad()
def randomize_batch_norm_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Gives every batch norm random statistics and affine parameters.

    Fusion bugs hide behind zero means, unit variances and unit scales; after
    this, each channel has its own mean, variance, scale and shift.
    """
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, _BatchNorm):
            num = module.num_features
            module.running_mean.copy_(torch.randn(num, generator=generator) * 0.5)
            module.running_var.copy_(torch.rand(num, generator=generator) * 1.5 + 0.5)
            if module.affine:
                module.weight.copy_(torch.rand(num, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(num, generator=generator) * 0.2)
    return model


def make_realistic_(model: nn.Module, seed: int = 0) -> nn.Module:
    """Kaiming conv weights (the model's own init) and random BN parameters, in eval mode."""
    torch.manual_seed(seed)
    model.init_weights()
    randomize_batch_norm_(model, seed)
    model.eval()  # not chained: mmpretrain's MobileOne.train() returns None
    return model


@torch.no_grad()
def reparameterization_error(model: nn.Module, inputs: torch.Tensor) -> float:
    """Relative error between ``model`` (eval mode) and a fused copy on ``inputs``.

    Run it in float64 to judge the fusion itself: in float32 a deep random
    network amplifies each layer's rounding (1e-7) to 1e-5 .. 1e-3 at its
    output, whichever form computes it.
    """
    model.eval()
    fused = reparameterize_model(copy.deepcopy(model))
    return relative_error(fused(inputs), model(inputs))


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
    return max(relative_error(reparameterize_model(copy.deepcopy(block))(block_input), output)
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
