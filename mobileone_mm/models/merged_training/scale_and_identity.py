"""The scale and identity branches of a depthwise block as one per-channel affine map.

In a depthwise block the 1x1 scale branch multiplies channel ``c`` by its
weight ``w`` and the identity branch passes it on, so in training both are
batch norms of the same channel. With the batch mean ``mu`` and biased
variance ``var`` of ``x``,

    BN_id(x) + BN_s(w x) = (x - mu) K + beta_id + beta_s,
    K = gamma_id r + gamma_s w r_s,  r = (var + eps_id)^-1/2,  r_s = (w^2 var + eps_s)^-1/2.

One pass for the statistics and one for the output replace two batch norms,
the product and the sum. With ``S1 = sum g`` and ``S2 = sum g (x - mu)`` over
the ``M`` values of a channel, the gradients are

    dx = K (g - S1 / M) - (S2 / M) (gamma_id r^3 + gamma_s w^3 r_s^3) (x - mu),
    dgamma_id = r S2,  dgamma_s = w r_s S2,  dbeta_id = dbeta_s = S1,  dw = gamma_s eps_s r_s^3 S2:

one batch-norm backward with weight ``K / r`` (which yields ``S1``, ``S2``
and all of ``dx`` but ``delta (x - mu)``, ``delta = (S2 / M) gamma_s w r_s^3
r^2 (eps_s - w^2 eps_id)``) and that correction.
"""

import torch
from torch.nn.modules.batchnorm import _BatchNorm

from .merged_branches import update_running_stats_


def channel_view(values: torch.Tensor) -> torch.Tensor:
    """(C, ) values as (1, C, 1, 1), to broadcast over an (N, C, H, W) tensor."""
    return values.view(1, -1, 1, 1)


class ScaleAndIdentity(torch.autograd.Function):
    """``BN_id(x) + BN_s(w x)`` in training mode, given the batch mean and biased variance of ``x``."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scale_weight: torch.Tensor, identity_gamma: torch.Tensor,
                identity_beta: torch.Tensor, scale_gamma: torch.Tensor, scale_beta: torch.Tensor, mean: torch.Tensor,
                var: torch.Tensor, identity_eps: float, scale_eps: float) -> torch.Tensor:
        invstd = torch.rsqrt(var + identity_eps)
        scale_invstd = torch.rsqrt(scale_weight.square() * var + scale_eps)
        slope = identity_gamma * invstd + scale_gamma * scale_weight * scale_invstd
        ctx.save_for_backward(x, scale_weight, identity_gamma, scale_gamma, mean, invstd, scale_invstd, slope)
        ctx.epsilons = (identity_eps, scale_eps)
        return torch.addcmul(channel_view(identity_beta + scale_beta - mean * slope), x, channel_view(slope))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple:
        x, scale_weight, identity_gamma, scale_gamma, mean, invstd, scale_invstd, slope = ctx.saved_tensors
        identity_eps, scale_eps = ctx.epsilons
        grad_x, weighted_sum, grad_sum = torch.ops.aten.native_batch_norm_backward(
            grad.contiguous(), x, slope / invstd, None, None, mean, invstd, True, identity_eps,
            [ctx.needs_input_grad[0], True, True])
        centred_sum = weighted_sum / invstd  # S2
        if grad_x is not None:
            count = grad.numel() // grad.shape[1]
            delta = (centred_sum / count * scale_gamma * scale_weight * scale_invstd**3 * invstd**2
                     * (scale_eps - scale_weight.square() * identity_eps))
            grad_x.addcmul_(x, channel_view(delta)).sub_(channel_view(delta * mean))
        return (grad_x, scale_gamma * scale_eps * scale_invstd**3 * centred_sum, invstd * centred_sum, grad_sum,
                scale_weight * scale_invstd * centred_sum, grad_sum, None, None, None, None)


def scale_and_identity_forward(x: torch.Tensor, scale_weight: torch.Tensor, scale_norm: _BatchNorm,
                               identity_norm: _BatchNorm) -> torch.Tensor:
    """``identity_norm(x) + scale_norm(x * w)`` in training mode, per channel ``w``; updates both norms' statistics.

    Args:
        x (Tensor): Input of shape (N, C, H, W).
        scale_weight (Tensor): The depthwise 1x1 kernel ``w``, any shape of C values.
        scale_norm (_BatchNorm): The batch norm of the scale branch.
        identity_norm (_BatchNorm): The batch norm of the identity branch.

    Returns:
        Tensor: The sum of the two branches, shaped like ``x``.
    """
    with torch.no_grad():
        mean, var = torch.batch_norm_update_stats(x, None, None, 0.0)
        weight = scale_weight.detach().flatten()
        count = x.numel() // x.shape[1]
        update_running_stats_(identity_norm, mean, var, count)
        update_running_stats_(scale_norm, mean * weight, var * weight.square(), count)
    return ScaleAndIdentity.apply(x, scale_weight.flatten(), identity_norm.weight, identity_norm.bias,
                                  scale_norm.weight, scale_norm.bias, mean, var, identity_norm.eps, scale_norm.eps)
