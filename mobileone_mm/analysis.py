"""Size and cost of each arch, measured on the models this package builds."""
from typing import Dict

import torch
from mmengine.analysis import FlopAnalyzer

from .mobileone import MobileOne, arch_channels


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def arch_summary(arch: str, input_size: int = 224) -> Dict[str, object]:
    """Channels, parameters (train and deploy form) and deploy FLOPs of one backbone.

    FLOPs are multiply-accumulates, counted the way the paper and mmpretrain count them.
    """
    model = MobileOne(arch, out_indices=(3, )).eval()
    train_params = count_parameters(model)
    model.switch_to_deploy()
    analyzer = FlopAnalyzer(model, torch.zeros(1, 3, input_size, input_size))
    flops = analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()
    return dict(arch=arch, channels=arch_channels(arch), train_params=train_params,
                deploy_params=count_parameters(model), deploy_flops=flops)
