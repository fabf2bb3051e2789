"""How closely a deployed model's predictions follow PyTorch's, per task, with pass/fail tolerances.

ONNX Runtime is not bit-exact with PyTorch, so each task is judged by what
its predictions mean: class scores by their logits, detections box by box,
segmentations pixel by pixel.
"""
import math
from dataclasses import dataclass

import torch
from mmengine.structures import BaseDataElement
from torchvision.ops import box_iou

from ..utils.numerics import relative_error

LOGITS_TOLERANCE = 1e-4  # relative
MIN_IOU = 0.99
SCORE_TOLERANCE = 1e-3  # absolute, on scores in [0, 1]
MIN_PIXEL_AGREEMENT = 0.999
CUT_OFF_FRACTION = 0.03  # of the detections, that may lack a counterpart at the bottom of the lists


@dataclass
class Agreement:
    """The outcome of one comparison.

    Attributes:
        summary (str): What was measured, with the limits.
        passed (bool): Whether every limit holds.
    """
    summary: str
    passed: bool


def classification_agreement(expected: BaseDataElement, actual: BaseDataElement,
                             tolerance: float = LOGITS_TOLERANCE) -> Agreement:
    """Compares the logits behind two mmpretrain ``DataSample`` s' ``pred_score``.

    The deployed graph ends in a softmax, so logits are recovered from the
    scores up to a constant per image (``log(score)`` centred on its mean);
    their relative difference must be at most ``tolerance``.
    """
    error = relative_error(centred_logits(actual.pred_score), centred_logits(expected.pred_score))
    summary = (f'classification: logits (from the scores, centred) relative difference {error:.1e} (limit '
               f'{tolerance:.0e}); top-1 label {int(actual.pred_label)} vs {int(expected.pred_label)}')
    return Agreement(summary, error <= tolerance)


def top1_agreement(expected: BaseDataElement, actual: BaseDataElement,
                   score_tolerance: float = SCORE_TOLERANCE) -> Agreement:
    """Compares a ``DataSample``'s top-1 with one that holds only its top-1 label and score (mmdeploy's SDK).

    ``actual`` has ``pred_label`` and ``pred_top1_score``: the label must be
    ``expected``'s top-1, and the score its score within ``score_tolerance``.
    """
    label, expected_label = int(actual.pred_label), int(expected.pred_label)
    difference = abs(float(actual.pred_top1_score) - float(expected.pred_score[expected_label]))
    summary = (f'classification: top-1 label {label} vs {expected_label}, its score difference '
               f'{difference:.1e} (limit {score_tolerance:.0e})')
    return Agreement(summary, label == expected_label and difference <= score_tolerance)


def centred_logits(scores: torch.Tensor) -> torch.Tensor:
    """Softmax scores back to logits, centred per image; scores that underflowed to 0 count as the least float."""
    logits = scores.double().clamp_min(torch.finfo(scores.dtype).tiny).log()
    return logits - logits.mean(-1, keepdim=True)


def detection_agreement(expected: BaseDataElement, actual: BaseDataElement, min_iou: float = MIN_IOU,
                        score_tolerance: float = SCORE_TOLERANCE) -> Agreement:
    """Matches two mmdet ``DetDataSample`` s' detections one to one.

    Each detection, in order of score, must have its own counterpart with the
    same label, IoU at least ``min_iou`` and score within ``score_tolerance``,
    except a few at the bottom of the lists: a detection that scores below
    every detection of the other side may lack a counterpart, at most
    :data:`CUT_OFF_FRACTION` of the detections. Candidates are cut off by
    score (``nms_pre`` pairs per level, ``max_per_img``), and a difference
    of 1e-5 in the scores of two pairs at a cut-off decides which one stays.
    """
    expected, actual = expected.pred_instances, actual.pred_instances
    count = f'{len(actual)} detections vs {len(expected)}'
    if len(expected) == 0 or len(actual) == 0:
        return Agreement(f'detection: {count}', len(expected) == len(actual))
    ious = box_iou(expected.bboxes.double(), actual.bboxes.double())
    ious[expected.labels[:, None] != actual.labels[None, :]] = -1
    ious[(expected.scores[:, None] - actual.scores[None, :]).abs() > score_tolerance] = -1
    free = torch.ones(len(actual), dtype=torch.bool)
    matched_expected = torch.zeros(len(expected), dtype=torch.bool)
    worst_iou, worst_score = 1.0, 0.0
    for i in expected.scores.argsort(descending=True).tolist():
        candidates = torch.where(free, ious[i], torch.full_like(ious[i], -2))
        j = int(candidates.argmax())
        if candidates[j] < min_iou:
            continue
        free[j], matched_expected[i] = False, True
        worst_iou = min(worst_iou, float(ious[i, j]))
        worst_score = max(worst_score, abs(float(expected.scores[i]) - float(actual.scores[j])))
    unmatched = torch.cat([expected.scores[~matched_expected], actual.scores[free]])
    at_cut_off = bool((expected.scores[~matched_expected] < actual.scores.min() + score_tolerance).all()
                      and (actual.scores[free] < expected.scores.min() + score_tolerance).all())
    allowed = math.ceil(CUT_OFF_FRACTION * max(len(expected), len(actual)))
    passed = len(unmatched) == 0 or (at_cut_off and len(unmatched) <= allowed)
    summary = (f'detection: {count}, matched one to one with the same label: worst IoU {worst_iou:.6f} (limit '
               f'{min_iou}), worst score difference {worst_score:.1e} (limit {score_tolerance:.0e})')
    if len(unmatched):
        where = 'all below the other side\'s lowest score' if at_cut_off else 'not all at the bottom'
        summary += (f'; {len(unmatched)} unmatched, {where} (scores {unmatched.min():.4f}..{unmatched.max():.4f};'
                    f' at most {allowed} at the cut-off)')
    return Agreement(summary, passed)


def segmentation_agreement(expected: BaseDataElement, actual: BaseDataElement,
                           min_agreement: float = MIN_PIXEL_AGREEMENT) -> Agreement:
    """The fraction of pixels where two mmseg ``SegDataSample`` s predict the same class."""
    expected, actual = expected.pred_sem_seg.data, actual.pred_sem_seg.data
    if expected.shape != actual.shape:
        return Agreement(f'segmentation: label maps of shape {tuple(actual.shape)} vs {tuple(expected.shape)}', False)
    agreement = (expected == actual).double().mean().item()
    summary = (f'segmentation: {agreement:.4%} of {expected.numel()} pixels agree (limit {min_agreement:.1%})')
    return Agreement(summary, agreement >= min_agreement)


AGREEMENT_BY_TASK = {
    'Classification': classification_agreement,
    'ObjectDetection': detection_agreement,
    'Segmentation': segmentation_agreement,
}
