"""``torch.onnx.export`` with the TorchScript exporter by default, for mmdeploy on torch >= 2.9.

Since torch 2.9 ``torch.onnx.export`` defaults to ``dynamo=True``, the
``torch.export`` based exporter: it needs onnxscript and ignores mmdeploy's
rewriters and symbolics. mmdeploy 1.3.1 calls ``torch.onnx.export`` without
the argument, so while it exports, :func:`torchscript_onnx_export` makes the
default ``dynamo=False`` (the TorchScript exporter, still in torch 2.14). A
caller that passes ``dynamo`` explicitly gets what it asks for, and the
original function is back when the block ends.
"""
import contextlib
import functools
from typing import Iterator

import torch


@contextlib.contextmanager
def torchscript_onnx_export() -> Iterator[None]:
    """Within the block, ``torch.onnx.export`` defaults to ``dynamo=False``.

    Example:
        >>> from mmdeploy.apis import torch2onnx
        >>> with torchscript_onnx_export():
        ...     torch2onnx(image, work_dir, 'end2end.onnx', deploy_cfg, model_cfg, checkpoint, 'cpu')
    """
    export = torch.onnx.export

    @functools.wraps(export)
    def export_with_torchscript(*args, dynamo: bool = False, **kwargs):
        return export(*args, dynamo=dynamo, **kwargs)

    torch.onnx.export = export_with_torchscript
    try:
        yield
    finally:
        torch.onnx.export = export
