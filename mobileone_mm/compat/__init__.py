"""Workarounds for the pinned stack, one deletable module each.

- :mod:`.weights_only_checkpoint`: mmengine 0.10.7 loads checkpoints with
  ``torch.load``'s weights-only default of torch >= 2.6 and fails on its own
  runner checkpoints; it gets an explicit allow-list.
- :mod:`.torchscript_onnx_export`: torch >= 2.9 exports ONNX with the dynamo
  exporter by default, which ignores mmdeploy's rewriters; mmdeploy's export
  gets the TorchScript exporter.
- :mod:`.atomic_checkpoint_saving`: mmengine writes checkpoints in place, so
  a kill while it writes truncates them.
- :mod:`.mmdeploy_candidate_selection`: mmdeploy's dense head rewrite picks
  NMS candidates by prior, mmdet by (prior, class) pair.
- :mod:`.mmdeploy_frame_lookup`: mmdeploy's rewriters find their caller
  with ``inspect.stack()``, seconds per export.
- :mod:`.ssd_head_loss_cls`: mmdet 3.3.0's ``SSDHead`` fails to predict for
  want of a ``loss_cls``.

:mod:`.patch_on_import` patches a module of the stack when it is imported.
"""
from .atomic_checkpoint_saving import install_atomic_checkpoint_saving
from .mmdeploy_candidate_selection import install_mmdet_candidate_selection
from .mmdeploy_frame_lookup import install_fast_frame_lookup
from .ssd_head_loss_cls import install_ssd_head_loss_cls
from .torchscript_onnx_export import install_torchscript_onnx_export
from .weights_only_checkpoint import UnsafeCheckpointError, install_safe_checkpoint_loading

__all__ = ['UnsafeCheckpointError', 'install_atomic_checkpoint_saving', 'install_fast_frame_lookup',
           'install_mmdet_candidate_selection', 'install_safe_checkpoint_loading', 'install_ssd_head_loss_cls',
           'install_torchscript_onnx_export']
