"""Re-parameterization of whole models (classifiers, detectors, segmentors)."""
import torch.nn as nn

from .block import MobileOneBlock
from .mobileone import MobileOne


def reparameterize_model(model: nn.Module) -> nn.Module:
    """Fuses every MobileOne block inside ``model`` in place.

    Works on any model that contains :class:`MobileOne` backbones or loose
    :class:`MobileOneBlock` s, also after SyncBN training; idempotent.

    Args:
        model (nn.Module): The model to fuse.

    Returns:
        nn.Module: ``model`` itself.
    """
    for module in list(model.modules()):
        if isinstance(module, (MobileOne, MobileOneBlock)):
            module.switch_to_deploy()
    return model
