"""The model: the MobileOne backbone and block, the arch table, SE, fusion and the fast training path."""
from .archs import ARCH_ZOO, ARCHS, arch_channels, arch_settings, stem_channels
from .block import MobileOneBlock
from .mobileone import MobileOne
from .reparameterize import fuse_mobileone_blocks, mobileone_blocks, reparameterize_model
from .se_layer import SELayer

__all__ = ['ARCHS', 'ARCH_ZOO', 'MobileOne', 'MobileOneBlock', 'SELayer', 'arch_channels', 'arch_settings',
           'fuse_mobileone_blocks', 'mobileone_blocks', 'reparameterize_model', 'stem_channels']
