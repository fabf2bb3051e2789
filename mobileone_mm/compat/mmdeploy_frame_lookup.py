"""mmdeploy 1.3.1's rewriters find their caller with ``inspect.stack()``: seconds per export.

``FunctionRewriter.get_context`` and ``SymbolicRewriter`` call
``rewriter_utils.get_frame_func(2)`` each time a rewritten function runs, and
it builds ``inspect.stack()``, which reads the source lines of every frame on
the stack and looks each frame's module up among all loaded modules, only to
take one frame's function name and globals: a fifth of an export's time
(docs/performance.md). :func:`get_frame_func` returns the same function from
``sys._getframe`` without reading any source.

The two rewriter modules are patched when mmdeploy imports them
(:mod:`.patch_on_import`). Delete this module once mmdeploy looks frames up
without ``inspect.stack()``.
"""
import sys
from types import ModuleType
from typing import Callable

from .patch_on_import import patch_on_import

REWRITER_MODULES = ('mmdeploy.core.rewriters.function_rewriter', 'mmdeploy.core.rewriters.symbolic_rewriter')


def get_frame_func(top: int = 1) -> Callable:
    """The function whose frame is ``top`` frames above this call, looked up by name in its globals, as mmdeploy's.

    Args:
        top (int): How many frames up: 1 is the caller's. Defaults to 1.
    """
    frame = sys._getframe(top)
    name = frame.f_code.co_name
    assert name in frame.f_globals, f'Can not find function: {name} in global.'
    return frame.f_globals[name]


def use_fast_frame_lookup(module: ModuleType) -> None:
    module.get_frame_func = get_frame_func


def install_fast_frame_lookup() -> None:
    """Patches mmdeploy's rewriter modules now if imported, else when mmdeploy imports them; idempotent."""
    for module_name in REWRITER_MODULES:
        patch_on_import(module_name, use_fast_frame_lookup)
