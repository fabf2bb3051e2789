"""mmdeploy exports ONNX with the TorchScript exporter on torch >= 2.9.

Since torch 2.9 ``torch.onnx.export`` defaults to ``dynamo=True``, the
``torch.export`` based exporter: it needs onnxscript and ignores mmdeploy's
rewriters and symbolics, so mmdeploy 1.3.1's ``torch2onnx`` (which calls
``torch.onnx.export`` without the argument) fails with ``No module named
'onnxscript'``. This module registers a function rewriter of
``torch.onnx.export`` with mmdeploy that defaults ``dynamo`` to ``False`` (the
TorchScript exporter, still in torch 2.14). mmdeploy applies its rewriters only
inside its export's ``RewriterContext``, so ``torch.onnx.export`` stays as it
is everywhere else; a caller that passes ``dynamo`` gets what it asks for.

The rewriter is registered when mmdeploy's rewriter registry is imported
(never importing mmdeploy here), so it holds in every process of mmdeploy's
own ``tools/deploy.py`` that loads a model config importing ``mobileone_mm``.
Delete this module once mmdeploy passes ``dynamo=False`` itself.
"""
from types import ModuleType

from .patch_on_import import patch_on_import

REWRITER_MODULE = 'mmdeploy.core.rewriters.rewriter_manager'
EXPORT = 'torch.onnx.export'


def register_torchscript_export_rewriter(rewriter_manager: ModuleType) -> None:
    rewriter = rewriter_manager.FUNCTION_REWRITER
    if EXPORT in rewriter._registry._rewrite_records:  # registered by an earlier call
        return

    @rewriter.register_rewriter(EXPORT)
    def torch_onnx_export__torchscript(*args, dynamo: bool = False, **kwargs):
        """``torch.onnx.export`` inside mmdeploy's export: the TorchScript exporter unless asked otherwise."""
        return rewriter.get_context(EXPORT).origin_func(*args, dynamo=dynamo, **kwargs)


def install_torchscript_onnx_export() -> None:
    """Registers the rewriter now if mmdeploy is imported, else when it is; idempotent."""
    patch_on_import(REWRITER_MODULE, register_torchscript_export_rewriter)
