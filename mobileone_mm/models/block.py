"""The MobileOne block: parallel conv-BN branches in training, one conv once fused.

State dicts match mmpretrain 1.2.0's ``MobileOneBlock`` key for key, in the
training and in the fused form.
"""
from typing import List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, ModuleList, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from .fusion import KernelBias, fuse_conv_bn, identity_kernel, pad_to_kernel_size
from .merged_training import (MEASURED_DEVICES, can_merge, merged_branches_forward, merging_pays_off,
                              scale_and_identity_forward)
from .se_layer import SELayer


class MobileOneBlock(BaseModule):
    """A MobileOne block: parallel conv-BN branches in training, one conv in deployment.

    In the training form the output is ``act(se(sum of branches))`` where the
    branches are ``num_convs`` k x k conv-BN branches, a 1x1 conv-BN "scale"
    branch (when k > 1) and a BN identity branch (when the shapes allow).
    :meth:`switch_to_deploy` fuses them into ``branch_reparam``, one k x k conv
    with bias, exactly. Where it is faster (the stem, S0's 1x1 blocks, stride-1
    depthwise blocks with several branches on maps of 28x28 or more) a block
    also trains as one conv, the branches' batch statistics taken from the
    input's moments (:mod:`mobileone_mm.models.merged_training`); the other
    depthwise blocks train their scale and identity branches as one
    per-channel affine map (:mod:`mobileone_mm.models.merged_training.scale_and_identity`).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size of the conv branches.
        num_convs (int): Number of k x k conv-BN branches.
        stride (int): Stride of every branch. Defaults to 1.
        padding (int, optional): Padding of the k x k branches. Only the
            "same" padding ``dilation * (kernel_size // 2)`` fuses exactly,
            so that is the padding whatever is given; a number is checked
            against it (mmpretrain's block takes it as an argument). Defaults
            to None.
        dilation (int): Dilation of the k x k branches. Defaults to 1.
        groups (int): Groups of every conv branch. Defaults to 1.
        se_cfg (dict, optional): Arguments of :class:`SELayer` applied after
            the branch sum, or None for no SE. Defaults to None.
        conv_cfg (dict, optional): Config of the conv layers. Defaults to None.
        norm_cfg (dict): Config of the norm layers; it must build a batch norm
            (BN, SyncBN, ...). Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Config of the activation. Defaults to
            ``dict(type='ReLU', inplace=True)``: in place, as timm's, which
            saves one activation-sized tensor per block.
        deploy (bool): Build the fused form directly. Defaults to False.
        merged_training (bool): Train the block as one conv whose kernel
            merges the branches under their batch statistics, where that saves
            work (:func:`merging_pays_off`): the same outputs, gradients and
            running statistics as the branch-by-branch sum, in less time;
            likewise the scale and identity branches of depthwise blocks. It
            applies to plain convs and batch norms on the CPU, where it was
            measured faster; SyncBN, autocast, CUDA (not measured yet) and
            ``torch.jit.trace`` train branch by branch. Defaults to True.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 num_convs: int,
                 stride: int = 1,
                 padding: Optional[int] = None,
                 dilation: int = 1,
                 groups: int = 1,
                 se_cfg: Optional[dict] = None,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: Optional[dict] = dict(type='ReLU', inplace=True),
                 deploy: bool = False,
                 merged_training: bool = True,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        if num_convs < 1:
            raise ValueError(f'num_convs must be >= 1, got {num_convs}')
        same_padding = dilation * (kernel_size // 2)
        if padding is not None and padding != same_padding:
            raise ValueError(f'padding={padding!r} does not keep the size of a {kernel_size}x{kernel_size} conv with '
                             f'dilation {dilation}; MobileOne blocks fuse only with padding={same_padding}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.num_conv_branches = num_convs
        self.stride = stride
        self.dilation = dilation
        self.padding = same_padding
        self.groups = groups
        self.se_cfg = se_cfg
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.deploy = deploy
        self.merged_training = merged_training

        self.se = nn.Identity() if se_cfg is None else SELayer(out_channels, **se_cfg)
        if deploy:
            self.branch_reparam = self._build_conv(kernel_size, dilation, bias=True)
        else:
            has_identity = in_channels == out_channels and stride == 1
            self.branch_norm = self._build_norm(in_channels) if has_identity else None
            self.branch_scale = self._build_conv_bn(1, 1) if kernel_size > 1 else None
            self.branch_conv_list = ModuleList(
                self._build_conv_bn(kernel_size, dilation) for _ in range(num_convs))
        self.act = nn.Identity() if act_cfg is None else build_activation_layer(act_cfg)

    def _build_conv(self, kernel_size: int, dilation: int, bias: bool) -> nn.Module:
        return build_conv_layer(
            self.conv_cfg,
            self.in_channels,
            self.out_channels,
            kernel_size=kernel_size,
            stride=self.stride,
            padding=dilation * (kernel_size // 2),
            dilation=dilation,
            groups=self.groups,
            bias=bias)

    def _build_norm(self, num_features: int) -> _BatchNorm:
        norm = build_norm_layer(self.norm_cfg, num_features)[1]
        if not isinstance(norm, _BatchNorm):
            raise TypeError(f'norm_cfg {self.norm_cfg} builds {type(norm).__name__}; MobileOne re-parameterizes '
                            'only batch norms (e.g. BN, SyncBN)')
        return norm

    def _build_conv_bn(self, kernel_size: int, dilation: int) -> Sequential:
        conv_bn = Sequential()
        conv_bn.add_module('conv', self._build_conv(kernel_size, dilation, bias=False))
        conv_bn.add_module('norm', self._build_norm(self.out_channels))
        return conv_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            out = self.branch_reparam(x)
        elif self.trains_merged(x):
            kernels, norms = zip(*self.conv_branches())
            out = merged_branches_forward(x, kernels, norms, self.branch_norm, self.stride, self.padding,
                                          self.dilation, self.groups)
        else:
            out = self.scale_and_identity(x)
            for branch in self.branch_conv_list:
                out = out + branch(x)
        return self.act(self.se(out))

    def scale_and_identity(self, x: torch.Tensor) -> Union[torch.Tensor, int]:
        """The sum of the identity and the scale branch on ``x`` (0 without either).

        In a depthwise block trained with ``merged_training`` both are batch
        norms of each input channel, computed as one per-channel affine map
        (:func:`~mobileone_mm.models.merged_training.scale_and_identity_forward`).
        Otherwise in mmpretrain's order of summation, so that the two agree to
        the last bit.
        """
        if self.trains_scale_and_identity_as_one():
            return scale_and_identity_forward(x, self.branch_scale.conv.weight, self.branch_scale.norm,
                                              self.branch_norm)
        out = 0 if self.branch_norm is None else self.branch_norm(x)
        if self.branch_scale is not None:
            out = out + self.scale_branch(x)
        return out

    @property
    def is_depthwise(self) -> bool:
        """Whether every conv of the block maps each input channel to its own output channel."""
        return self.groups == self.in_channels == self.out_channels

    def scale_branch(self, x: torch.Tensor) -> torch.Tensor:
        """The 1x1 conv-BN scale branch on ``x``.

        A depthwise 1x1 conv multiplies each input by its channel's weight:
        computed as that product, it gives the conv's outputs bit for bit and
        a backward several times faster than oneDNN's depthwise 1x1 conv
        backward on CPU (docs/performance.md, "Training").
        """
        conv, norm = self.branch_scale.conv, self.branch_scale.norm
        if self.is_depthwise and type(conv).forward is nn.Conv2d.forward:
            return norm(x[:, :, ::self.stride, ::self.stride] * conv.weight.view(1, -1, 1, 1))
        return self.branch_scale(x)

    def may_train_merged(self) -> bool:
        """Whether ``merged_training`` applies now: a training-form block in train mode, not being traced.

        ``torch.jit.trace`` records tensors where the merged path computes
        with the input's sizes as Python ints, so a traced block trains
        branch by branch (the same outputs). ``torch.export`` and
        ``torch.compile`` trace the sizes symbolically and keep the merged path.
        """
        return self.merged_training and self.training and not self.deploy and not torch.jit.is_tracing()

    def trains_scale_and_identity_as_one(self) -> bool:
        """Whether :meth:`scale_and_identity` computes the two branches as one per-channel affine map."""
        return (self.may_train_merged() and self.branch_norm is not None and self.branch_scale is not None
                and self.is_depthwise
                and self.branch_norm.weight.device.type in MEASURED_DEVICES
                and can_merge([self.branch_scale.conv], [self.branch_scale.norm, self.branch_norm]))

    def trains_merged(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward` computes the branches on ``x`` as one conv (see ``merged_training``)."""
        if not self.may_train_merged():
            return False
        num_convs = self.num_conv_branches + (self.branch_scale is not None)
        return (merging_pays_off(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.groups,
                                 num_convs, x.shape[-2] * x.shape[-1], x.device) and self._can_merge())

    def _can_merge(self) -> bool:
        conv_bns = [*self.branch_conv_list, *([] if self.branch_scale is None else [self.branch_scale])]
        norms = [conv_bn.norm for conv_bn in conv_bns] + ([] if self.branch_norm is None else [self.branch_norm])
        return can_merge([conv_bn.conv for conv_bn in conv_bns], norms)

    def conv_branches(self) -> List[Tuple[torch.Tensor, _BatchNorm]]:
        """The conv branches as (bias-free k x k kernel, batch norm after it); the scale branch's 1x1 kernel padded."""
        pairs = [(branch.conv.weight, branch.norm) for branch in self.branch_conv_list]
        if self.branch_scale is not None:
            pairs.append((pad_to_kernel_size(self.branch_scale.conv.weight, self.kernel_size), self.branch_scale.norm))
        return pairs

    def fused_kernel_bias(self) -> KernelBias:
        """The kernel and bias of the one conv equal to the sum of the branches.

        Returns:
            tuple[Tensor, Tensor]: Kernel of shape (C_out, C_in / groups, k, k)
            and bias of shape (C_out, ).
        """
        pairs = [fuse_conv_bn(kernel, norm) for kernel, norm in self.conv_branches()]
        if self.branch_norm is not None:
            like = self.branch_conv_list[0].conv.weight
            kernel = identity_kernel(self.in_channels, self.groups, self.kernel_size, like)
            pairs.append(fuse_conv_bn(kernel, self.branch_norm))
        kernels, biases = zip(*pairs)
        return torch.stack(kernels).sum(0), torch.stack(biases).sum(0)

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Fuses the branches into ``branch_reparam`` in place; a no-op when fused."""
        if self.deploy:
            return
        kernel, bias = self.fused_kernel_bias()
        self.branch_reparam = self._build_conv(self.kernel_size, self.dilation, bias=True).to(kernel)
        self.branch_reparam.weight.copy_(kernel)
        self.branch_reparam.bias.copy_(bias)
        del self.branch_conv_list, self.branch_scale, self.branch_norm
        self.deploy = True


