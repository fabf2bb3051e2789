"""mmdeploy selects a dense head's NMS candidates as mmdet does: the top ``nms_pre`` (prior, class) pairs per level.

mmdet's ``BaseDenseHead._predict_by_feat_single`` keeps, on each level, the
``nms_pre`` (prior, class) pairs of highest score above ``score_thr``
(``filter_scores_and_topk``). mmdeploy 1.3.1's rewrite of
``BaseDenseHead.predict_by_feat`` (``mmdeploy/codebase/mmdet/models/
dense_heads/base_dense_head.py``) keeps instead the ``nms_pre`` priors of
highest maximum class score, with every class of each: more candidates,
which survive NMS and change the low-scoring detections. Measured on the
demo's RetinaNet-S0: 100 detections per image where several labels differ
from PyTorch's; with ``nms_pre=-1`` on both sides they agreed box for box.

Here the rewrite's ``gather_topk`` (the name it gathers the chosen priors
with) is replaced, in that module only, by :func:`keep_top_pairs`: every
prior stays, and the scores of the pairs outside each level's top
``nms_pre`` become 0, which the NMS's score threshold then drops. The rest of
mmdeploy's graph (NMS per class, ``keep_top_k``) keeps mmdet's result as long
as its ``pre_top_k`` (5000 priors over all levels) does not bind: levels x
``nms_pre`` candidates at most, 5000 for RetinaNet and fewer priors than that
for SSDLite at 320 x 320. Delete this module once mmdeploy selects pairs.
"""
from types import ModuleType
from typing import Optional, Tuple

import torch

from .patch_on_import import patch_on_import

DENSE_HEAD_REWRITE_MODULE = 'mmdeploy.codebase.mmdet.models.dense_heads.base_dense_head'


def keep_top_pairs(*inputs: Optional[torch.Tensor], inds: torch.Tensor, batch_size: int,
                   is_batched: bool = True) -> Tuple[Optional[torch.Tensor], ...]:
    """``gather_topk`` for the dense head rewrite: all priors, the scores of the top ``nms_pre`` pairs only.

    Args:
        inputs: ``(bbox_pred, scores, score_factors)`` of one level, batched
            (scores ``(B, priors, classes)``), or ``(priors, )``.
        inds (torch.Tensor): mmdeploy's chosen priors ``(B, nms_pre)``; only
            its width, ``nms_pre``, is used.
        batch_size (int): Unused, as in mmdeploy's signature.
        is_batched (bool): False for the priors, which are kept whole.
    """
    if not is_batched:
        return inputs[0] if len(inputs) == 1 else inputs
    bbox_pred, scores, score_factors = inputs
    pair_scores = scores.flatten(1)
    top_pairs = pair_scores.topk(inds.shape[1], dim=1).indices
    kept = torch.zeros_like(pair_scores).scatter(1, top_pairs, 1.0)
    return bbox_pred, (pair_scores * kept).view_as(scores), score_factors


def select_pairs_as_mmdet(module: ModuleType) -> None:
    module.gather_topk = keep_top_pairs


def install_mmdet_candidate_selection() -> None:
    """Patches mmdeploy's dense head rewrite now if it is imported, else when it is; idempotent."""
    patch_on_import(DENSE_HEAD_REWRITE_MODULE, select_pairs_as_mmdet)
