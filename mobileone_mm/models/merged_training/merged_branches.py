"""The training form of a MobileOne block as one convolution.

In training, branch ``j`` of a block computes ``BN_j(conv(x, W_j))`` with batch
statistics, and the block sums the branches. The statistics are moments of the
conv's input patches ``p``: ``mean_j = W_j m`` and ``var_j = diag(W_j S W_j^T)``,
where ``m`` and ``S`` are the mean and covariance of ``p`` over the batch and
the output positions. Given them, the sum of the normalized branches is ONE
convolution with kernel ``sum_j a_j W_j`` and bias ``sum_j (beta_j - a_j mean_j)``,
where ``a_j = gamma_j / sqrt(var_j + eps_j)``.

Every step is differentiable, so autograd yields the gradients of the
branch-by-branch form, and the running statistics are updated from ``mean_j``
and ``var_j`` as batch norm updates them. For a dense 1x1 conv with ``k``
branches this costs one ``C x C`` covariance product and one conv instead of
``k`` convs and ``k`` or ``k + 1`` batch norms over full activations; for a 3x3
depthwise conv, 13 products of shifted inputs and one conv instead of ``k + 1``
convs and ``k + 2`` batch norms.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from ..fusion import identity_kernel
from .depthwise_moments import depthwise_patch_moments


def can_merge(convs: Sequence[nn.Module], norms: Sequence[nn.Module]) -> bool:
    """Whether :func:`merged_branches_forward` computes exactly what these branches compute.

    True for plain convolutions and batch norms that normalize with batch
    statistics: not SyncBN (its statistics span processes), not a norm in eval
    mode, not a conv with its own forward (weight standardization, ...), and not
    under autocast (batch norm keeps float32 statistics there).
    """
    return (all(type(conv).forward is nn.Conv2d.forward and conv.padding_mode == 'zeros' for conv in convs)
            and all(isinstance(norm, _BatchNorm) and type(norm).forward is _BatchNorm.forward and norm.training
                    and norm.affine and norm.track_running_stats for norm in norms)
            and not torch.is_autocast_enabled(convs[0].weight.device.type))


# Where merging pays off was measured on the CPU (docs/performance.md, "Training"): dense blocks with several branches
# gain; stride-1 depthwise blocks gain with 3 or more convs (branches plus the scale branch) on maps of 28x28 and more,
# while on 14x14 maps and with one branch (S1-S4) the branch form is faster.
DEPTHWISE_MIN_POSITIONS = 28 * 28
DEPTHWISE_MIN_CONVS = 3
# Devices where the merged form was measured faster (docs/performance.md). Elsewhere (CUDA: never measured, no GPU
# here) blocks train branch by branch until a measurement there says otherwise.
MEASURED_DEVICES = ('cpu', )


def merging_pays_off(in_channels: int, out_channels: int, kernel_size: int, stride: int, groups: int,
                     num_convs: int, positions: int, device: torch.device) -> bool:
    """Whether the merged form is expected to be faster than the branch form.

    Only on :data:`MEASURED_DEVICES`; there:

    A stride-1 depthwise block (``groups == C_in == C_out``) merges with at
    least :data:`DEPTHWISE_MIN_CONVS` conv branches on maps of at least
    :data:`DEPTHWISE_MIN_POSITIONS` positions, its patch moments computed by
    :func:`~.depthwise_moments.depthwise_patch_moments`.
    Otherwise merging must save multiply-adds: per group and output position the
    merged form computes the patch covariance (``D^2``) and one conv (``D * O``),
    the branch form ``J`` convs, so it merges when ``D < (J - 1) * O``. This
    merges the stem (J=2: conv and scale) and S0's 1x1 blocks (J=4) and keeps
    1-branch 1x1 blocks (S1-S4, slower merged) and stride-2 depthwise blocks
    (D=9, O=1) branch by branch, as measured on CPU (docs/performance.md).

    Args:
        in_channels, out_channels, kernel_size, stride, groups (int): The block's geometry.
        num_convs (int): ``J``, conv branches including the scale branch.
        positions (int): Input positions per image, H * W.
        device (torch.device): Where the block trains.
    """
    if device.type not in MEASURED_DEVICES:
        return False
    if groups == in_channels == out_channels and stride == 1 and kernel_size > 1:
        return num_convs >= DEPTHWISE_MIN_CONVS and positions >= DEPTHWISE_MIN_POSITIONS
    return in_channels // groups * kernel_size**2 < (num_convs - 1) * (out_channels // groups)


class PatchCovariance(torch.autograd.Function):
    """Mean (groups, D) and biased covariance (groups, D, D) of patches (N, groups * D, L) over N and L.

    The patches are copied once into a (groups, D, N * L) layout and centred
    in place; the covariance is one matrix product per group over all images.
    The backward is one product too, ``((G + G^T) p + g_mean) / count`` for the
    centred patches ``p``: they sum to 0, so the mean's effect on the
    covariance drops out, and autograd's reduction and two passes over the
    patches for it are saved.
    """

    @staticmethod
    def forward(ctx, patches: torch.Tensor, groups: int) -> Tuple[torch.Tensor, torch.Tensor]:
        n, rows, length = patches.shape
        count = n * length
        centred = patches.transpose(0, 1).clone(memory_format=torch.contiguous_format)
        centred = centred.view(groups, rows // groups, count)
        mean = centred.sum(-1) / count
        centred.sub_(mean.unsqueeze(-1))  # centring keeps E[pp^T] - mm^T from cancelling in float32
        ctx.save_for_backward(centred)
        ctx.patches_shape = (n, rows, length)
        return mean, centred @ centred.transpose(-1, -2) / count

    @staticmethod
    def backward(ctx, grad_mean: torch.Tensor, grad_cov: torch.Tensor) -> Tuple[torch.Tensor, None]:
        centred, = ctx.saved_tensors
        n, rows, length = ctx.patches_shape
        count = n * length
        grad = torch.baddbmm(grad_mean.unsqueeze(-1), grad_cov + grad_cov.transpose(-1, -2), centred,
                             beta=1 / count, alpha=1 / count)
        return grad.view(rows, n, length).transpose(0, 1), None


class QuadraticForms(torch.autograd.Function):
    """``w^T S w`` for each row ``w`` of kernels (groups, R, D) and symmetric ``S`` (groups, D, D): (groups, R).

    Autograd's backward of ``((W @ S) * W).sum(-1)`` takes two matrix products;
    ``S`` being symmetric, the kernels' gradient ``2 g * (W S)`` reuses the
    forward's product, and one product, ``W^T diag(g) W``, remains.
    """

    @staticmethod
    def forward(ctx, kernels: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
        product = kernels @ cov
        ctx.save_for_backward(kernels, product)
        return (product * kernels).sum(-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        kernels, product = ctx.saved_tensors
        grad = grad.unsqueeze(-1)
        return 2 * grad * product, kernels.transpose(-1, -2) @ (grad * kernels)


def patch_moments(x: torch.Tensor, kernel_size: int, stride: int, padding: int, dilation: int,
                  groups: int) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """Mean and covariance of a convolution's input patches over the batch and the output positions.

    Args:
        x (Tensor): Input of shape (N, C, H, W).
        kernel_size, stride, padding, dilation, groups (int): The convolution's geometry.

    Returns:
        tuple[Tensor, Tensor, int]: The mean of shape (groups, D), the biased
        covariance of shape (groups, D, D), with ``D = C / groups * k * k`` in
        the order of a conv weight's flattened (C_in / groups, k, k), and the
        number of patches averaged.
    """
    if kernel_size == 1 and stride == 1 and padding == 0:
        patches = x.flatten(2)
    else:
        patches = F.unfold(x, kernel_size, dilation, padding, stride)
    mean, cov = PatchCovariance.apply(patches, groups)
    return mean, cov, patches.shape[0] * patches.shape[2]


@torch.no_grad()
def update_running_stats_(norm: _BatchNorm, mean: torch.Tensor, var: torch.Tensor, count: int) -> None:
    """Updates a batch norm's buffers from batch statistics exactly as its training-mode forward does.

    Args:
        norm (_BatchNorm): The norm to update.
        mean (Tensor): The batch mean, shape (C, ).
        var (Tensor): The biased batch variance, shape (C, ).
        count (int): Values per channel in the batch (for the unbiased variance).
    """
    norm.num_batches_tracked.add_(1)
    momentum = 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum
    norm.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
    norm.running_var.mul_(1 - momentum).add_(var * (count / (count - 1)), alpha=momentum)


def merged_branches_forward(x: torch.Tensor, kernels: Sequence[torch.Tensor], norms: Sequence[_BatchNorm],
                            identity_norm: Optional[_BatchNorm], stride: int, padding: int, dilation: int,
                            groups: int) -> torch.Tensor:
    """``sum_j norms[j](conv2d(x, kernels[j])) + identity_norm(x)`` in training mode, as one convolution.

    Also updates each norm's running statistics. Check :func:`can_merge` first.

    Args:
        x (Tensor): Input of shape (N, C, H, W).
        kernels (Sequence[Tensor]): One bias-free kernel per conv branch, each
            of shape (C_out, C / groups, k, k); smaller kernels padded to k x k.
        norms (Sequence[_BatchNorm]): The batch norm of each conv branch.
        identity_norm (_BatchNorm, optional): The batch norm of the identity
            branch (needs C_out == C and stride 1), or None.
        stride, padding, dilation, groups (int): The convolutions' geometry.

    Returns:
        Tensor: The sum of the branches, of shape (N, C_out, H_out, W_out).
    """
    weight = torch.stack(list(kernels))  # (J, C_out, C / groups, k, k)
    num_convs, out_channels, in_per_group, kernel_size = weight.shape[:4]
    if groups == x.shape[1] == out_channels and stride == 1 and padding == dilation * (kernel_size // 2):
        mean, cov, count = depthwise_patch_moments(x, kernel_size, dilation)
    else:
        mean, cov, count = patch_moments(x, kernel_size, stride, padding, dilation, groups)
    # (groups, J * C_out / groups, D): every branch's kernels of a group in one matrix product with its moments.
    flat = weight.reshape(num_convs, groups, out_channels // groups, -1).transpose(0, 1).flatten(1, 2)
    branch_mean = torch.matmul(flat, mean.unsqueeze(-1)).reshape(groups, num_convs, -1)
    branch_var = QuadraticForms.apply(flat, cov).reshape(groups, num_convs, -1)
    branch_mean, branch_var = (moment.transpose(0, 1).reshape(num_convs, out_channels)
                               for moment in (branch_mean, branch_var))
    norms = list(norms)
    if identity_norm is not None:
        # Output channel c copies the centre tap of input channel c: read its moments, no product with I.
        channel = torch.arange(out_channels, device=x.device)
        group = channel // in_per_group
        tap = channel % in_per_group * kernel_size**2 + kernel_size**2 // 2
        weight = torch.cat([weight, identity_kernel(out_channels, groups, kernel_size, weight).unsqueeze(0)])
        branch_mean = torch.cat([branch_mean, mean[group, tap].unsqueeze(0)])
        branch_var = torch.cat([branch_var, cov[group, tap, tap].unsqueeze(0)])
        norms.append(identity_norm)
    gamma = torch.stack([norm.weight for norm in norms])
    beta = torch.stack([norm.bias for norm in norms])
    eps = branch_var.new_tensor([norm.eps for norm in norms]).unsqueeze(1)
    scale = gamma * torch.rsqrt(branch_var + eps)  # (branches, C_out)
    kernel = (weight * scale.reshape(len(norms), out_channels, 1, 1, 1)).sum(0)
    bias = (beta - scale * branch_mean).sum(0)
    for norm, norm_mean, norm_var in zip(norms, branch_mean, branch_var):
        update_running_stats_(norm, norm_mean, norm_var, count)
    return F.conv2d(x, kernel, bias, stride, padding, dilation, groups)
