"""Size and cost of each arch, counted on the models this package builds, against mmpretrain's metafile."""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn as nn
import yaml
from mmengine.analysis import FlopAnalyzer
from mmengine.utils import get_installed_path

from ..models import MobileOne, arch_channels, fuse_mobileone_blocks

IMAGE_SIZE = 224
NUM_CLASSES = 1000
METAFILE = 'configs/mobileone/metafile.yml'  # in mmpretrain's package data (.mim)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def arch_summary(arch: str, input_size: int = IMAGE_SIZE) -> Dict[str, object]:
    """Channels, parameters (training and fused form) and fused FLOPs of one backbone.

    FLOPs are multiply-accumulates, counted the way the paper and mmpretrain count them.
    """
    model = MobileOne(arch, out_indices=(3, )).eval()
    train_params = count_parameters(model)
    model.switch_to_deploy()
    analyzer = FlopAnalyzer(model, torch.zeros(1, 3, input_size, input_size))
    flops = analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False).total()
    return dict(arch=arch, channels=arch_channels(arch), train_params=train_params,
                fused_params=count_parameters(model), fused_flops=flops)


@dataclass(frozen=True)
class Published:
    """mmpretrain's published figures for its ImageNet-1k classifier of one arch.

    ``flops`` are multiply-accumulates at 224x224 of the fused model's
    ``extract_feat`` (backbone and global average pooling, without the linear
    head: mmpretrain's ``get_flops`` tool counts that), ``params`` those of the
    whole fused classifier, ``top1`` its ImageNet-1k top-1 accuracy (%).
    """

    flops: int
    params: int
    top1: float


@dataclass
class SizeRow:
    """Size and cost of one arch, counted here, against mmpretrain's published classifier.

    ``backbone_macs`` is :func:`arch_summary`'s ``fused_flops``: the
    multiply-accumulates per image of the fused backbone, the work the
    effective GFLOP/s of every form are computed from. ``features_macs``
    adds the global average pooling (what mmpretrain publishes),
    ``classifier_macs`` the linear head too.
    """

    arch: str
    backbone_macs: int
    classifier_params_train: int
    classifier_params_fused: int
    published_params: int
    features_macs: int
    classifier_macs: int
    published_macs: int
    published_top1: float


class Classifier(nn.Module):
    """mmpretrain's ImageNet classifier in miniature: backbone, global average pooling, linear head."""

    def __init__(self, arch: str, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.backbone = MobileOne(arch, out_indices=(3, ))
        self.neck = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(arch_channels(arch)[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.neck(self.backbone(x)[-1]).flatten(1))


def published_figures(path: Optional[str] = None) -> Dict[str, Published]:
    """Reads mmpretrain's MobileOne metafile: {'s0': Published(...), ...}.

    Args:
        path (str, optional): The metafile. Defaults to the one installed
            with mmpretrain.
    """
    path = path or osp.join(get_installed_path('mmpretrain'), '.mim', METAFILE)
    with open(path) as file:
        models = yaml.safe_load(file)['Models']
    return {model['Name'].split('_')[0].split('-')[1]: Published(
        flops=int(model['Metadata']['FLOPs']), params=int(model['Metadata']['Parameters']),
        top1=float(model['Results'][0]['Metrics']['Top 1 Accuracy'])) for model in models}


def count_flops(model: nn.Module, input_size: int = IMAGE_SIZE) -> Dict[str, int]:
    """Multiply-accumulates of one image by module name ('' the total), as mmengine's ``FlopAnalyzer`` counts."""
    analyzer = FlopAnalyzer(model, torch.zeros(1, 3, input_size, input_size))
    return dict(analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False).by_module())


def size_row(arch: str, published: Published) -> SizeRow:
    """Counts the backbone's fused MACs and the classifier's parameters and MACs of ``arch``."""
    classifier = Classifier(arch).eval()
    params_train = count_parameters(classifier)
    fuse_mobileone_blocks(classifier)
    flops = count_flops(classifier)
    return SizeRow(arch, int(arch_summary(arch)['fused_flops']), params_train, count_parameters(classifier),
                   published.params, flops[''] - flops['head'], flops[''], published.flops, published.top1)
