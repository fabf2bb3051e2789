"""MobileOne: the backbone, with the strides and dilations of mmseg's ResNet.

`An Improved One millisecond Mobile Backbone <https://arxiv.org/abs/2206.04040>`_.
State dicts match mmpretrain 1.2.0's ``MobileOne`` key for key, in the training
and in the fused form, so its released ImageNet checkpoints load unchanged.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule, Sequential
from torch.nn.modules.batchnorm import _BatchNorm

from ..registry import register_backbone
from .archs import (ARCH_ZOO, NUM_STAGES, arch_channels, arch_settings, check_flag, check_out_indices,
                    check_positive_int, check_stage_ints, stem_channels)
from .block import MobileOneBlock


OWN_INIT_CFG = [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm'])]
# Model-zoo schemes of mmcv/mmengine: their names are ImageNet checkpoints of other networks unless they say MobileOne.
MODEL_ZOO_SCHEMES = ('open-mmlab://', 'openmmlab://', 'torchvision://', 'mmcls://', 'mmpretrain://')


def pretrained_init_cfg(pretrained: str) -> dict:
    """The ``init_cfg`` of ``pretrained=``: ``Pretrained`` from that checkpoint.

    Raises:
        ValueError: If ``pretrained`` is not a str, or is a model-zoo name
            of another network, as a backbone swapped into one of mmseg's
            ResNet configs gets from the segmentor's ``pretrained``.
    """
    if not isinstance(pretrained, str):
        raise ValueError(f'pretrained must be a checkpoint path or URL, got {pretrained!r}')
    if pretrained.startswith(MODEL_ZOO_SCHEMES) and 'mobileone' not in pretrained.lower():
        raise ValueError(f"pretrained={pretrained!r} names another network's weights (mmseg passes the segmentor's "
                         f"pretrained to its backbone): set model.pretrained=None and give MobileOne's weights as "
                         f"backbone init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')")
    return dict(type='Pretrained', checkpoint=pretrained)


@register_backbone
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
            Defaults to Kaiming convs and unit batch norms.
        pretrained (str, optional): A checkpoint to start from, as mmseg's
            backbones take it (mmseg's segmentors pass their ``pretrained``
            on): the same as ``init_cfg=dict(type='Pretrained',
            checkpoint=pretrained)``. Another network's model-zoo name
            (``open-mmlab://resnet50_v1c``) is refused. Defaults to None.

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

    arch_zoo: Dict[str, dict] = ARCH_ZOO

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
                 init_cfg: Optional[Union[dict, List[dict]]] = OWN_INIT_CFG,
                 pretrained: Optional[str] = None) -> None:
        if pretrained is not None:
            if init_cfg is not OWN_INIT_CFG and init_cfg is not None:
                raise ValueError(f'MobileOne got both pretrained={pretrained!r} and init_cfg={init_cfg!r}; give one')
            init_cfg = pretrained_init_cfg(pretrained)
        super().__init__(init_cfg)  # BaseModule keeps a deep copy
        self.arch = arch_settings(arch)
        self.out_indices = check_out_indices(out_indices)
        if not isinstance(frozen_stages, int) or not -1 <= frozen_stages <= NUM_STAGES:
            raise ValueError(f'frozen_stages must be an int in [-1, {NUM_STAGES}], got {frozen_stages!r}')
        self.strides = check_stage_ints('strides', strides)
        self.dilations = check_stage_ints('dilations', dilations)
        self.in_channels = check_positive_int('in_channels', in_channels)
        if se_cfg is not None:  # checked for every arch, also those without SE blocks
            check_positive_int("se_cfg['ratio']", se_cfg.get('ratio', 16))
        self.frozen_stages = frozen_stages
        self.deploy = check_flag('deploy', deploy)
        self.norm_eval = check_flag('norm_eval', norm_eval)
        check_flag('merged_training', merged_training)

        block_cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy,
                         merged_training=merged_training)
        stage_channels = arch_channels(self.arch)
        self.stage0 = MobileOneBlock(in_channels, stem_channels(self.arch), 3, num_convs=1, stride=2, **block_cfg)
        self.stages = []
        in_planes = stem_channels(self.arch)
        for i, planes in enumerate(stage_channels):
            blocks = []
            num_blocks, num_se = self.arch['num_blocks'][i], self.arch['num_se_blocks'][i]
            for j in range(num_blocks):
                block_se_cfg = se_cfg if j >= num_blocks - num_se else None
                num_convs = self.arch['num_conv_branches'][i]
                stride = self.strides[i] if j == 0 else 1
                blocks.append(MobileOneBlock(in_planes, in_planes, 3, num_convs, stride, dilation=self.dilations[i],
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

        The fused form on CPU does: oneDNN runs channels-last convs without
        reordering every input and output to its blocked layout
        (docs/performance.md, "Inference: channels-last"). It does so in train
        mode too, where it computes the same convolutions: a fused model gives
        the same outputs in either mode. The training form stays NCHW, where a
        training step in channels-last was slower for s1-s4, and so does its
        eval mode, which thereby equals mmpretrain's bit for bit. CUDA stays
        NCHW, unmeasured. The device is the weights' (not the input's), so
        that ``torch.fx`` can trace the forward.
        """
        return self.deploy and next(self.parameters()).device.type == 'cpu'

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


