"""Patch a module of the stack when it is imported, without importing it here.

Importing mmdet's models or mmdeploy takes seconds, and most users of this
package need neither, so a workaround for one of their modules runs when
that module finishes executing: :func:`patch_on_import` puts a meta-path
finder in front of Python's that wraps the module's own loader.
"""
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Callable

Patch = Callable[[ModuleType], None]


class PatchingLoader(importlib.abc.Loader):
    """The module's own loader, followed by the patch."""

    def __init__(self, loader: importlib.abc.Loader, patch: Patch) -> None:
        self.loader = loader
        self.patch = patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.patch(module)


class PatchingFinder(importlib.abc.MetaPathFinder):
    """Finds one module as the path finder does, with :class:`PatchingLoader` around its loader."""

    def __init__(self, module_name: str, patch: Patch) -> None:
        self.module_name = module_name
        self.patch = patch

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != self.module_name:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = PatchingLoader(spec.loader, self.patch)
        return spec


def patch_on_import(module_name: str, patch: Patch) -> None:
    """Calls ``patch(module)`` now if ``module_name`` is imported, else right after it is; once per patch.

    Args:
        module_name (str): The module's full name, e.g. ``'mmdet.models.dense_heads.ssd_head'``.
        patch (Callable): Called with the executed module; it must be idempotent, since a module that
            is already imported is patched again by each call. One patch may serve several modules.
    """
    if module_name in sys.modules:
        patch(sys.modules[module_name])
    elif not any(isinstance(finder, PatchingFinder) and (finder.module_name, finder.patch) == (module_name, patch)
                 for finder in sys.meta_path):
        sys.meta_path.insert(0, PatchingFinder(module_name, patch))
