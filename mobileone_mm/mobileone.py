"""MobileOne: the re-parameterizable block, the arch table and the backbone.

`An Improved One millisecond Mobile Backbone <https://arxiv.org/abs/2206.04040>`_.
State dicts match mmpretrain 1.2.0's ``MobileOne`` key for key, in the training
and in the deploy form, so its released ImageNet checkpoints load unchanged.
"""
from numbers import Real
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.model import BaseModule, ModuleList, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from .channel_branches import scale_and_identity_forward
from .fusion import KernelBias, fuse_conv_bn, identity_kernel, pad_to_kernel_size
from .merged_training import can_merge, merged_branches_forward, merging_pays_off
from .se_layer import SELayer

NUM_STAGES = 4
BASE_CHANNELS = (64, 128, 256, 512)
ARCH_KEYS = ('num_blocks', 'width_factor', 'num_conv_branches', 'num_se_blocks')


class MobileOneBlock(BaseModule):
    """A MobileOne block: parallel conv-BN branches in training, one conv in deployment.

    In the training form the output is ``act(se(sum of branches))`` where the
    branches are ``num_convs`` k x k conv-BN branches, a 1x1 conv-BN "scale"
    branch (when k > 1) and a BN identity branch (when the shapes allow).
    :meth:`switch_to_deploy` fuses them into ``branch_reparam``, one k x k conv
    with bias, exactly. Where it is faster (the stem, S0's 1x1 blocks, stride-1
    depthwise blocks with several branches on maps of 28x28 or more) a block
    also trains as one conv, the branches' batch statistics taken from the
    input's moments (:mod:`mobileone_mm.merged_training`); the other
    depthwise blocks train their scale and identity branches as one
    per-channel affine map (:mod:`mobileone_mm.channel_branches`).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size of the conv branches.
        num_convs (int): Number of k x k conv-BN branches.
        stride (int): Stride of every branch. Defaults to 1.
        dilation (int): Dilation of the k x k branches; the padding keeps the
            spatial size ("same" padding). Defaults to 1.
        groups (int): Groups of every conv branch. Defaults to 1.
        se_cfg (dict, optional): Arguments of :class:`SELayer` applied after
            the branch sum, or None for no SE. Defaults to None.
        conv_cfg (dict, optional): Config of the conv layers. Defaults to None.
        norm_cfg (dict): Config of the norm layers; it must build a batch norm
            (BN, SyncBN, ...). Defaults to ``dict(type='BN')``.
        act_cfg (dict, optional): Config of the activation. Defaults to
            ``dict(type='ReLU', inplace=True)``: in place, as timm's, which
            saves one activation-sized tensor per block (0-4 % of the fused
            form's CPU latency, measured).
        deploy (bool): Build the fused form directly. Defaults to False.
        merged_training (bool): Train the block as one conv whose kernel
            merges the branches under their batch statistics, where that saves
            work (:func:`merging_pays_off`): the same outputs, gradients and
            running statistics as the branch-by-branch sum, in less time;
            likewise the scale and identity branches of depthwise blocks. It
            applies to plain convs and batch norms, not SyncBN or autocast,
            which train branch by branch. Defaults to True.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int,
                 num_convs: int,
                 stride: int = 1,
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
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.num_conv_branches = num_convs
        self.stride = stride
        self.dilation = dilation
        self.padding = dilation * (kernel_size // 2)
        self.groups = groups
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
        (:func:`~mobileone_mm.channel_branches.scale_and_identity_forward`).
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
        a backward 2-10x faster than oneDNN's depthwise 1x1 conv backward on
        CPU (measured at batch 8 on S0-S4's maps).
        """
        conv, norm = self.branch_scale.conv, self.branch_scale.norm
        if self.is_depthwise and type(conv).forward is nn.Conv2d.forward:
            return norm(x[:, :, ::self.stride, ::self.stride] * conv.weight.view(1, -1, 1, 1))
        return self.branch_scale(x)

    def trains_scale_and_identity_as_one(self) -> bool:
        """Whether :meth:`scale_and_identity` computes the two branches as one per-channel affine map."""
        return (self.merged_training and self.training and not self.deploy and self.branch_norm is not None
                and self.branch_scale is not None and self.is_depthwise
                and can_merge([self.branch_scale.conv], [self.branch_scale.norm, self.branch_norm]))

    def trains_merged(self, x: torch.Tensor) -> bool:
        """Whether :meth:`forward` computes the branches on ``x`` as one conv (see ``merged_training``)."""
        if not (self.merged_training and self.training and not self.deploy):
            return False
        num_convs = self.num_conv_branches + (self.branch_scale is not None)
        return (merging_pays_off(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.groups,
                                 num_convs, x.shape[-2] * x.shape[-1]) and self._can_merge())

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


class MobileOne(BaseModule):
    """MobileOne backbone, with the strides and dilations of mmseg's ResNet.

    Args:
        arch (str | dict): 's0' .. 's4', or a dict with the keys of
            :attr:`arch_zoo`'s rows, each a sequence of 4 (one per stage):
            ``num_blocks``, ``width_factor``, ``num_conv_branches`` and
            ``num_se_blocks`` (SE sits in the last blocks of a stage).
        in_channels (int): Input image channels. Defaults to 3.
        out_indices (int | Sequence[int]): Stages (0..3, negative counts from
            the end) whose outputs are returned. Defaults to ``(3, )``.
        frozen_stages (int): Freeze the stem and stages 1..n (-1: nothing,
            0: the stem only). Defaults to -1.
        strides (Sequence[int]): Stride of each stage's first block.
            Defaults to ``(2, 2, 2, 2)``.
        dilations (Sequence[int]): Dilation of each stage's k x k convs.
            ``strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4)`` gives output
            stride 8. Defaults to ``(1, 1, 1, 1)``.
        conv_cfg (dict, optional): Config of the conv layers. Defaults to None.
        norm_cfg (dict): Config of the norm layers (a batch norm, e.g. BN or
            SyncBN). Defaults to ``dict(type='BN')``.
        act_cfg (dict): Config of the activations. Defaults to ``dict(type='ReLU', inplace=True)``.
        se_cfg (dict): Arguments of the SE layers. Defaults to ``dict(ratio=16)``.
        deploy (bool): Build the fused (deployment) form. Defaults to False.
        norm_eval (bool): Keep the batch norms in eval mode while training
            (frozen statistics). Defaults to False.
        merged_training (bool): Train blocks as one conv each where that is
            faster, with identical results; see :class:`MobileOneBlock`.
            Defaults to True.
        init_cfg (dict | list[dict], optional): Initialization config.

    Example:
        >>> import torch
        >>> from mobileone_mm import MobileOne
        >>> model = MobileOne('s0', out_indices=(0, 1, 2, 3)).eval()
        >>> for out in model(torch.rand(1, 3, 224, 224)):
        ...     print(tuple(out.shape))
        (1, 48, 56, 56)
        (1, 128, 28, 28)
        (1, 256, 14, 14)
        (1, 1024, 7, 7)
    """

    arch_zoo: Dict[str, dict] = {
        's0': dict(num_blocks=(2, 8, 10, 1), width_factor=(0.75, 1.0, 1.0, 2.0),
                   num_conv_branches=(4, 4, 4, 4), num_se_blocks=(0, 0, 0, 0)),
        's1': dict(num_blocks=(2, 8, 10, 1), width_factor=(1.5, 1.5, 2.0, 2.5),
                   num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 0, 0)),
        's2': dict(num_blocks=(2, 8, 10, 1), width_factor=(1.5, 2.0, 2.5, 4.0),
                   num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 0, 0)),
        's3': dict(num_blocks=(2, 8, 10, 1), width_factor=(2.0, 2.5, 3.0, 4.0),
                   num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 0, 0)),
        's4': dict(num_blocks=(2, 8, 10, 1), width_factor=(3.0, 3.5, 3.5, 4.0),
                   num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 5, 1)),
    }

    def __init__(self,
                 arch: Union[str, dict] = 's0',
                 in_channels: int = 3,
                 out_indices: Union[int, Sequence[int]] = (3, ),
                 frozen_stages: int = -1,
                 strides: Sequence[int] = (2, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU', inplace=True),
                 se_cfg: dict = dict(ratio=16),
                 deploy: bool = False,
                 norm_eval: bool = False,
                 merged_training: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = [
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(type='Constant', val=1, layer=['_BatchNorm'])
                 ]) -> None:
        super().__init__(init_cfg)
        self.arch = resolve_arch(arch)
        self.out_indices = check_out_indices(out_indices)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= NUM_STAGES:
            raise ValueError(f'frozen_stages must be an int in [-1, {NUM_STAGES}], got {frozen_stages!r}')
        self.strides = check_stage_ints('strides', strides)
        self.dilations = check_stage_ints('dilations', dilations)
        self.in_channels = in_channels
        self.frozen_stages = frozen_stages
        self.deploy = deploy
        self.norm_eval = norm_eval

        block_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy,
                         merged_training=merged_training)
        stem_channels, *stage_channels = arch_channels(self.arch)
        self.stage0 = MobileOneBlock(in_channels, stem_channels, 3, num_convs=1, stride=2, **block_cfg)
        self.stages = []
        in_planes = stem_channels
        for i, planes in enumerate(stage_channels):
            blocks = []
            num_blocks, num_se = self.arch['num_blocks'][i], self.arch['num_se_blocks'][i]
            for j in range(num_blocks):
                block_se_cfg = se_cfg if j >= num_blocks - num_se else None
                num_convs = self.arch['num_conv_branches'][i]
                stride = self.strides[i] if j == 0 else 1
                blocks.append(MobileOneBlock(in_planes, in_planes, 3, num_convs, stride, self.dilations[i],
                                             groups=in_planes, se_cfg=block_se_cfg, **block_cfg))
                blocks.append(MobileOneBlock(in_planes, planes, 1, num_convs, se_cfg=block_se_cfg, **block_cfg))
                in_planes = planes
            self.add_module(f'stage{i + 1}', Sequential(*blocks))
            self.stages.append(f'stage{i + 1}')
        self.out_channels = tuple(stage_channels[i] for i in self.out_indices)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        channels_last = self.computes_channels_last()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stage0(x)
        outs = []
        for i, stage_name in enumerate(self.stages):
            x = getattr(self, stage_name)(x)
            if i in self.out_indices:
                outs.append(x.contiguous() if channels_last else x)
        return tuple(outs)

    def computes_channels_last(self) -> bool:
        """Whether the forward runs in channels-last layout inside (its outputs stay contiguous NCHW).

        Inference of the fused form on CPU does: oneDNN runs channels-last
        convs without reordering every input and output to its blocked layout.
        Against NCHW (CPU, 2 threads, rotating rounds), fused s0 / s4 took
        0.87x / 0.95x of the time at batch 1 and 0.85x / 1.01x at batch 8.
        Training stays NCHW (a step in channels-last took 0.91x for s0 but
        1.03x for s1 and 1.06x for s4), and so does the training form in eval
        mode, which thereby equals mmpretrain's bit for bit. CUDA stays NCHW,
        unmeasured. The device is the weights' (not the input's), so that
        ``torch.fx`` can trace the forward.
        """
        return self.deploy and not self.training and next(self.parameters()).device.type == 'cpu'

    def _freeze_stages(self) -> None:
        for stage_name in ['stage0', *self.stages][:self.frozen_stages + 1]:
            stage = getattr(self, stage_name)
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'MobileOne':
        """Sets the training mode, keeping frozen stages (and BNs if ``norm_eval``) in eval mode."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self

    def switch_to_deploy(self) -> None:
        """Fuses every block in place (also after SyncBN training); idempotent."""
        for module in self.modules():
            if isinstance(module, MobileOneBlock):
                module.switch_to_deploy()
        self.deploy = True


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Returns the arch row for a name, or checks a custom arch dict.

    Raises:
        ValueError: For an unknown name, missing or unknown keys, sequences not
            of length 4, or values out of range.
        TypeError: For an arch that is neither a str nor a dict.
    """
    if isinstance(arch, str):
        if arch not in MobileOne.arch_zoo:
            raise ValueError(f'arch {arch!r} is not one of {sorted(MobileOne.arch_zoo)} (or a dict)')
        return MobileOne.arch_zoo[arch]
    if not isinstance(arch, dict):
        raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}: {arch!r}')
    missing = [key for key in ARCH_KEYS if key not in arch]
    unknown = [key for key in arch if key not in ARCH_KEYS]
    if missing or unknown:
        raise ValueError(f'arch dict must have exactly the keys {list(ARCH_KEYS)}; '
                         f'missing {missing}, unknown {unknown}')
    for key in ARCH_KEYS:
        value = arch[key]
        if not isinstance(value, (list, tuple)) or len(value) != NUM_STAGES:
            raise ValueError(f'arch[{key!r}] must be a list of {NUM_STAGES} values (one per stage), got {value!r}')
    for key in ('num_blocks', 'num_conv_branches'):
        if not all(isinstance(v, int) and v >= 1 for v in arch[key]):
            raise ValueError(f'arch[{key!r}] must hold ints >= 1, got {arch[key]!r}')
    if not all(isinstance(v, Real) and v > 0 for v in arch['width_factor']):
        raise ValueError(f"arch['width_factor'] must hold positive numbers, got {arch['width_factor']!r}")
    for stage, (num_se, num_blocks) in enumerate(zip(arch['num_se_blocks'], arch['num_blocks'])):
        if not isinstance(num_se, int) or not 0 <= num_se <= num_blocks:
            raise ValueError(f"arch['num_se_blocks'][{stage}] = {num_se!r} must be an int in [0, num_blocks] = "
                             f'[0, {num_blocks}]')
    return {key: tuple(arch[key]) for key in ARCH_KEYS}


def arch_channels(arch: Union[str, dict]) -> Tuple[int, ...]:
    """Output channels of the stem and of the 4 stages, e.g. (48, 48, 128, 256, 1024) for 's0'."""
    width_factor = resolve_arch(arch)['width_factor']
    stem = min(64, int(BASE_CHANNELS[0] * width_factor[0]))
    return (stem, *(int(base * factor) for base, factor in zip(BASE_CHANNELS, width_factor)))


def check_out_indices(out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
    """Normalizes ``out_indices`` to a tuple of stage indices in [0, 3]."""
    indices = (out_indices, ) if isinstance(out_indices, int) else out_indices
    if (not isinstance(indices, Sequence) or len(indices) == 0
            or not all(isinstance(i, int) and -NUM_STAGES <= i < NUM_STAGES for i in indices)):
        raise ValueError(f'out_indices must be an int or a non-empty sequence of ints in '
                         f'[{-NUM_STAGES}, {NUM_STAGES - 1}], got {out_indices!r}')
    return tuple(sorted({i % NUM_STAGES for i in indices}))


def check_stage_ints(name: str, values: Sequence[int]) -> Tuple[int, ...]:
    """Checks per-stage ``strides``/``dilations``: 4 positive ints."""
    if (not isinstance(values, Sequence) or len(values) != NUM_STAGES
            or not all(isinstance(v, int) and v >= 1 for v in values)):
        raise ValueError(f'{name} must be a sequence of {NUM_STAGES} positive ints (one per stage), got {values!r}')
    return tuple(values)
