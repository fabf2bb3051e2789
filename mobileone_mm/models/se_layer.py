"""Squeeze-and-excitation, key-for-key compatible with mmpretrain's ``SELayer``."""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from .archs import check_positive_int


def make_divisible(value: float, divisor: int, min_ratio: float = 0.9) -> int:
    """Rounds a channel count to the nearest multiple of ``divisor``.

    The result is at least ``divisor`` and never below ``min_ratio * value``
    (the rule of MobileNet-V2, as in mmpretrain).
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < min_ratio * value else rounded


class SELayer(BaseModule):
    """Squeeze-and-excitation: rescales channels by a gate computed from their means.

    Args:
        channels (int): Input and output channels.
        squeeze_channels (int, optional): Channels of the bottleneck. Defaults
            to ``make_divisible(channels // ratio, divisor)``.
        ratio (int): Squeeze ratio. Defaults to 16.
        divisor (int): Divisor of the bottleneck width. Defaults to 8.
        conv_cfg (dict, optional): Config of the two 1x1 convs. Defaults to None.
        act_cfg (dict | Sequence[dict]): Activations after the first and the
            second conv. Defaults to ``(dict(type='ReLU'), dict(type='Sigmoid'))``.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 channels: int,
                 squeeze_channels: Optional[int] = None,
                 ratio: int = 16,
                 divisor: int = 8,
                 conv_cfg: Optional[dict] = None,
                 act_cfg: Union[dict, Sequence[dict]] = (dict(type='ReLU'), dict(type='Sigmoid')),
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if isinstance(act_cfg, dict):
            act_cfg = (act_cfg, act_cfg)
        check_positive_int('SE ratio', ratio)
        if squeeze_channels is None:
            squeeze_channels = make_divisible(channels // ratio, divisor)
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = ConvModule(channels, squeeze_channels, 1, conv_cfg=conv_cfg, act_cfg=act_cfg[0])
        self.conv2 = ConvModule(squeeze_channels, channels, 1, conv_cfg=conv_cfg, act_cfg=act_cfg[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv2(self.conv1(self.global_avgpool(x)))
