"""PreciseBNHook: BN statistics recomputed as the plain average over training batches."""
import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel

from mobileone_mm import PreciseBNHook
from mobileone_mm.engine.hooks.precise_bn_hook import recompute_batch_norm_statistics
from mobileone_mm.registry import HOOKS


class TwoNorms(BaseModel):
    """conv -> BN (trains) -> BN (frozen, as ``norm_eval`` leaves it)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.trained_norm = nn.BatchNorm2d(4)
        self.frozen_norm = nn.BatchNorm2d(4)

    def train(self, mode: bool = True) -> 'TwoNorms':
        super().train(mode)
        self.frozen_norm.eval()
        return self

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor') -> torch.Tensor:
        assert mode == 'tensor'
        return self.frozen_norm(self.trained_norm(self.conv(inputs)))


def test_statistics_are_the_average_over_the_batches_and_frozen_norms_are_kept():
    torch.manual_seed(0)
    model = TwoNorms().eval()
    frozen_statistics = model.frozen_norm.running_mean.clone(), model.frozen_norm.running_var.clone()
    batches = [dict(inputs=torch.randn(5, 3, 8, 8) * scale + scale) for scale in (1.0, 2.0, 3.0)]
    used = recompute_batch_norm_statistics(model, batches + batches, num_batches=3)

    activations = [model.conv(batch['inputs']).detach() for batch in batches]
    expected_mean = torch.stack([a.mean((0, 2, 3)) for a in activations]).mean(0)
    expected_var = torch.stack([a.transpose(0, 1).flatten(1).var(1) for a in activations]).mean(0)
    assert used == 3
    torch.testing.assert_close(model.trained_norm.running_mean, expected_mean)
    torch.testing.assert_close(model.trained_norm.running_var, expected_var)
    assert torch.equal(model.frozen_norm.running_mean, frozen_statistics[0])
    assert torch.equal(model.frozen_norm.running_var, frozen_statistics[1])
    assert model.trained_norm.momentum == 0.1 and not model.training


@pytest.mark.parametrize('arguments', [dict(num_batches=0), dict(interval=1.5)])
def test_bad_arguments_are_refused(arguments):
    name, value = next(iter(arguments.items()))
    with pytest.raises(ValueError, match=f'{name} must be a positive int, got {value!r}'):
        PreciseBNHook(**arguments)


def test_the_hook_builds_from_any_framework_scope():
    from mmdet.registry import HOOKS as MMDET_HOOKS
    hook = MMDET_HOOKS.build(dict(type='mobileone_mm.PreciseBNHook', num_batches=3, interval=2))
    assert isinstance(hook, PreciseBNHook) and (hook.num_batches, hook.interval) == (3, 2)
    assert HOOKS.get('PreciseBNHook') is PreciseBNHook
