"""Deployment: fused checkpoints, the mmdeploy export to ONNX Runtime and the checks of both.

:mod:`.task_models` builds task models from their configs and loads
checkpoints strictly, :mod:`.fuse_checkpoint` re-parameterizes a checkpoint,
:mod:`.export` exports with mmdeploy and compares the result with PyTorch,
judged by :mod:`.agreement`. The names of the former ``mobileone_mm.deploy``
module (``deploy``, ``DeployError``, ...) resolve to :mod:`.export`'s,
imported on first use: mmdeploy is imported only when exporting.
"""
import importlib
from typing import Any


EXPORT_NAMES = ('deploy', 'DeployError', 'DeployResult', 'check_reparameterized', 'at_network_resolution')


def __getattr__(name: str) -> Any:
    if name in EXPORT_NAMES:
        return getattr(importlib.import_module(f'{__name__}.export'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
