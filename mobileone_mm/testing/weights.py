"""Realistic weights for models under test: fusion bugs hide behind default batch-norm statistics."""
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm


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
