"""MobileOne for OpenMMLab.

Importing this package (``custom_imports=dict(imports=['mobileone_mm'])``) registers
the backbone in the ``mobileone_mm`` scope and in mmdet and mmseg, and installs the
workarounds of :mod:`mobileone_mm.compat` for the pinned stack: mmengine's
checkpoint loading through torch's weights-only unpickler with an allow-list and
its checkpoint saving atomic, mmdet 3.3.0's SSD head able to predict, and mmdeploy
exporting with the TorchScript exporter, selecting detection candidates as mmdet
does, finding its rewriters' callers without reading source files, and converting
and running OpenVINO models with OpenVINO's current API. The
environment variable ``MOBILEONE_MM_COMPAT_OFF`` (``all`` or a comma-separated
list of their names) switches them off.

Layout, by role: ``models`` (the backbone and what it is made of), ``engine``
(runner set-up and hooks), ``compat`` (workarounds for the pinned stack),
``deploy`` (fused checkpoints, mmdeploy export and its checks), ``convert``
(timm and Apple checkpoints), ``testing`` (fixtures of the tests, the benchmark
and the demo), ``benchmark`` and ``utils``.
"""
from .utils.versions import check_stack_versions

check_stack_versions()  # before anything that would fail on an older torch or numpy

from .compat import install_compat_patches
from .engine import PreciseBNHook
from .models import MobileOne, MobileOneBlock, arch_channels, reparameterize_model
from .registry import MODELS

__version__ = '0.1.0'
__all__ = ['MODELS', 'MobileOne', 'MobileOneBlock', 'PreciseBNHook', 'arch_channels', 'reparameterize_model']

install_compat_patches()
