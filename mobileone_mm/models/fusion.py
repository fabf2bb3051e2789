"""Structural re-parameterization as pure tensor functions.

Each function turns one training-time branch into an equivalent ``(kernel,
bias)`` pair of a single convolution; a block sums the pairs of its branches.
They use no in-place operations, so they are differentiable, and they are exact
up to float rounding.
"""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

KernelBias = Tuple[torch.Tensor, torch.Tensor]


def bn_scale_shift(norm: _BatchNorm) -> KernelBias:
    """The per-channel affine map ``y = scale * x + shift`` of a BN in eval mode.

    Args:
        norm (_BatchNorm): Any batch-norm layer (BN, SyncBN, ...) that tracks
            running statistics.

    Returns:
        tuple[Tensor, Tensor]: ``scale`` and ``shift``, each of shape (C, ).
    """
    if not isinstance(norm, _BatchNorm):
        raise TypeError(f'only batch-norm layers can be fused, got {type(norm).__name__}')
    if norm.running_var is None:
        raise ValueError(f'{type(norm).__name__} has no running statistics '
                         '(track_running_stats=False); it cannot be fused')
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.affine:
        scale = norm.weight * scale
        return scale, norm.bias - norm.running_mean * scale
    return scale, -norm.running_mean * scale


def fuse_conv_bn(kernel: torch.Tensor, norm: _BatchNorm) -> KernelBias:
    """Fuses a bias-free convolution kernel with the BN that follows it.

    Args:
        kernel (Tensor): Conv weight of shape (C_out, C_in / groups, k, k).
        norm (_BatchNorm): The BN applied to the conv's output.

    Returns:
        tuple[Tensor, Tensor]: The fused kernel and bias.
    """
    scale, shift = bn_scale_shift(norm)
    return kernel * scale.reshape(-1, 1, 1, 1), shift


def identity_kernel(channels: int, groups: int, kernel_size: int, like: torch.Tensor) -> torch.Tensor:
    """The kernel of a (grouped) convolution that copies its input.

    Args:
        channels (int): Input and output channels.
        groups (int): Groups of the convolution.
        kernel_size (int): Odd kernel size; the 1 sits at the centre tap.
        like (Tensor): Tensor whose dtype and device the kernel takes.

    Returns:
        Tensor: Kernel of shape (channels, channels / groups, k, k).
    """
    in_per_group = channels // groups
    kernel = torch.zeros(channels, in_per_group, kernel_size, kernel_size, dtype=like.dtype, device=like.device)
    centre = kernel_size // 2
    kernel[torch.arange(channels), torch.arange(channels) % in_per_group, centre, centre] = 1
    return kernel


def pad_to_kernel_size(kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Zero-pads a centred kernel (e.g. 1x1) to ``kernel_size`` x ``kernel_size``.

    With padding ``dilation * (k // 2)`` on the large kernel and no padding on
    the small one, the centre taps see the same input pixel, so the padded
    kernel is exact for dilated convolutions too.
    """
    pad = (kernel_size - kernel.shape[-1]) // 2
    return F.pad(kernel, [pad, pad, pad, pad])
