"""Workarounds for the pinned stack, one deletable module each.

- :mod:`.weights_only_checkpoint`: mmengine 0.10.7 loads checkpoints with
  ``torch.load``'s weights-only default of torch >= 2.6 and fails on its own
  runner checkpoints; it gets an explicit allow-list.
- :mod:`.torchscript_onnx_export`: torch >= 2.9 exports ONNX with the dynamo
  exporter by default, which ignores mmdeploy's rewriters.
"""
from .torchscript_onnx_export import torchscript_onnx_export
from .weights_only_checkpoint import UnsafeCheckpointError, install_safe_checkpoint_loading

__all__ = ['UnsafeCheckpointError', 'install_safe_checkpoint_loading', 'torchscript_onnx_export']
