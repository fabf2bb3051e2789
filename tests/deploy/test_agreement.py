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
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2)), False),  # one missing
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 3)), False),  # another label
    (boxes((0, 0, 10, 11, 0.9, 1), (5, 5, 20, 20, 0.5, 2), (0, 0, 10, 10, 0.3, 2)), False),  # IoU 0.91
    (boxes((0, 0, 10, 10, 0.9, 1), (5, 5, 20, 20, 0.51, 2), (0, 0, 10, 10, 0.3, 2)), False),  # score off by 0.01
])
def test_detections_match_one_to_one_by_label_iou_and_score(actual, passed):
    agreement = detection_agreement(SimpleNamespace(pred_instances=DETECTIONS), SimpleNamespace(pred_instances=actual))
    assert agreement.passed is passed, agreement.summary
