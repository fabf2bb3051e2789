"""How deployed predictions are judged against PyTorch's: detections matched one to one."""
from types import SimpleNamespace

import pytest
import torch
from mmengine.structures import InstanceData

from mobileone_mm.deploy.agreement import detection_agreement


def boxes(*rows):
    return InstanceData(bboxes=torch.tensor([row[:4] for row in rows], dtype=torch.float32),
                        scores=torch.tensor([row[4] for row in rows]), labels=torch.tensor([row[5] for row in rows]))


DETECTIONS = boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2))


@pytest.mark.parametrize('actual, passed', [
    (boxes((5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2), (0, 0, 10, 10, 0.9, 1)), True),  # another order
    (boxes((0, 0, 10, 10.01, 0.9, 1), (5, 5, 20, 20, 0.5005, 2), (0, 0, 10, 10, 0.3, 2)), True),  # within tolerance
    (boxes((0, 0, 10, 10, 0.9, 1), (0, 0, 10, 10, 0.3, 2)), False),  # one missing, not at the bottom
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2), (9, 9, 30, 30, 0.8, 0)), False),
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 3)), False),  # another label
    (boxes((0, 0, 10, 11, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2)), False),  # IoU 0.91
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.51, 2), (0, 0, 10, 10, 0.3, 2)), False),  # score off by 0.01
])
def test_detections_match_one_to_one_by_label_iou_and_score(actual, passed):
    agreement = detection_agreement(SimpleNamespace(pred_instances=DETECTIONS), SimpleNamespace(pred_instances=actual))
    assert agreement.passed is passed, agreement.summary


def test_a_few_detections_below_the_other_sides_lowest_score_may_lack_a_counterpart():
    """A cut-off (nms_pre pairs per level, max_per_img) moved by a score difference of 1e-5 at the bottom."""
    common = [(i, i, i + 10, i + 10, 0.9 - i / 100, i % 3) for i in range(60)]
    expected = boxes(*common, (0, 0, 5, 5, 0.05, 1), (0, 0, 5, 5, 0.0501, 2))
    assert detection_agreement(SimpleNamespace(pred_instances=expected),
                               SimpleNamespace(pred_instances=boxes(*common))).passed
    middle = boxes(*common[:30], *common[31:], (0, 0, 5, 5, 0.05, 1), (0, 0, 5, 5, 0.0501, 2))
    agreement = detection_agreement(SimpleNamespace(pred_instances=expected), SimpleNamespace(pred_instances=middle))
    assert not agreement.passed and 'not all at the bottom' in agreement.summary
