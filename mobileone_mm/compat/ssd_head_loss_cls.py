"""mmdet 3.3.0's ``SSDHead`` cannot predict: ``'SSDHead' object has no attribute 'loss_cls'``.

``BaseDenseHead._predict_by_feat_single`` asks ``self.loss_cls`` whether it
has custom class channels, and ``SSDHead`` (which computes its cross-entropy
itself) never builds a ``loss_cls``, so validation, testing and inference of
every SSD model fail (open-mmlab/mmdetection#11305, #11780; the fix, PR
#11524, is not released). An SSD head has no loss with custom class channels:
a class attribute ``loss_cls = None`` makes that check answer no.

The class is patched when mmdet imports its module (:mod:`.patch_on_import`).
Delete this module once mmdet ships the fix.
"""
from types import ModuleType

from .patch_on_import import patch_on_import

SSD_HEAD_MODULE = 'mmdet.models.dense_heads.ssd_head'


def give_ssd_head_loss_cls(module: ModuleType) -> None:
    if not hasattr(module.SSDHead, 'loss_cls'):
        module.SSDHead.loss_cls = None


def install_ssd_head_loss_cls() -> None:
    """Patches ``SSDHead`` now if mmdet imported it already, else when mmdet imports it; idempotent."""
    patch_on_import(SSD_HEAD_MODULE, give_ssd_head_loss_cls)
