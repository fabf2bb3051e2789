"""mmdet 3.3.0's ``SSDHead`` cannot predict: ``'SSDHead' object has no attribute 'loss_cls'``.

``BaseDenseHead._predict_by_feat_single`` asks ``self.loss_cls`` whether it
has custom class channels, and ``SSDHead`` (which computes its cross-entropy
itself) never builds a ``loss_cls``, so validation, testing and inference of
every SSD model fail (open-mmlab/mmdetection#11305, #11780; the fix, PR
#11524, is not released). An SSD head has no loss with custom class channels:
a class attribute ``loss_cls = None`` makes that check answer no.

Importing ``mmdet.models`` takes seconds, so the class is patched when mmdet
imports its module, not by importing it here. Delete this module once mmdet
ships the fix.
"""
import importlib.abc
import importlib.machinery
import sys

SSD_HEAD_MODULE = 'mmdet.models.dense_heads.ssd_head'


def give_ssd_head_loss_cls(module) -> None:
    if not hasattr(module.SSDHead, 'loss_cls'):
        module.SSDHead.loss_cls = None


class PatchingLoader(importlib.abc.Loader):
    """mmdet's own loader of the SSD head module, followed by :func:`give_ssd_head_loss_cls`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        give_ssd_head_loss_cls(module)


class SSDHeadFinder(importlib.abc.MetaPathFinder):
    """Finds mmdet's SSD head module as the path finder does, with :class:`PatchingLoader` around its loader."""

    def find_spec(self, fullname: str, path=None, target=None):
        if fullname != SSD_HEAD_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = PatchingLoader(spec.loader)
        return spec


def install_ssd_head_loss_cls() -> None:
    """Patches ``SSDHead`` now if mmdet imported it already, else when mmdet imports it; idempotent."""
    if SSD_HEAD_MODULE in sys.modules:
        give_ssd_head_loss_cls(sys.modules[SSD_HEAD_MODULE])
    elif not any(isinstance(finder, SSDHeadFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, SSDHeadFinder())
