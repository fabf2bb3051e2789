"""MobileOne for OpenMMLab.

Importing this package (``custom_imports=dict(imports=['mobileone_mm'])``) registers
the backbone in the ``mobileone_mm`` scope and in mmdet and mmseg, makes mmengine's
checkpoint loading use torch's weights-only unpickler with an allow-list and its
checkpoint saving atomic, lets mmdet 3.3.0's SSD head predict and makes
mmdeploy export with the TorchScript exporter, select detection candidates
as mmdet does and find its rewriters' callers without reading source files
(:mod:`mobileone_mm.compat`).

Layout, by role: ``models`` (the backbone and what it is made of), ``engine``
(runner set-up and hooks), ``compat`` (workarounds for the pinned stack),
``deploy`` (fused checkpoints, mmdeploy export and its checks), ``convert``
(timm and Apple checkpoints), ``testing`` (fixtures of the tests, the benchmark
and the demo), ``benchmark`` and ``utils``.
"""
from .compat.atomic_checkpoint_saving import install_atomic_checkpoint_saving
from .compat.mmdeploy_candidate_selection import install_mmdet_candidate_selection
from .compat.mmdeploy_frame_lookup import install_fast_frame_lookup
from .compat.ssd_head_loss_cls import install_ssd_head_loss_cls
from .compat.torchscript_onnx_export import install_torchscript_onnx_export
from .compat.weights_only_checkpoint import install_safe_checkpoint_loading
from .engine import PreciseBNHook
from .models import MobileOne, MobileOneBlock, arch_channels, reparameterize_model
from .registry import MODELS

__version__ = '0.1.0'
__all__ = ['MODELS', 'MobileOne', 'MobileOneBlock', 'PreciseBNHook', 'arch_channels', 'reparameterize_model']

install_safe_checkpoint_loading()
install_atomic_checkpoint_saving()
install_ssd_head_loss_cls()
install_torchscript_onnx_export()
install_mmdet_candidate_selection()
install_fast_frame_lookup()
