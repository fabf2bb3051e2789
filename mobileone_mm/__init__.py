"""MobileOne for OpenMMLab.

Importing this package (``custom_imports=dict(imports=['mobileone_mm'])``) registers
the backbone in the ``mobileone_mm`` scope and in mmdet and mmseg, and makes
mmengine's checkpoint loading use torch's weights-only unpickler with an allow-list.
"""
from .checkpoint import install_safe_checkpoint_loading
from .mobileone import MobileOne, MobileOneBlock, arch_channels
from .precise_bn import PreciseBNHook
from .registry import MODELS, register_backbone
from .reparameterize import reparameterize_model

__version__ = '0.1.0'
__all__ = ['MODELS', 'MobileOne', 'MobileOneBlock', 'PreciseBNHook', 'arch_channels', 'reparameterize_model']

register_backbone(MobileOne)
install_safe_checkpoint_loading()
