"""reparameterize_model fuses the MobileOne blocks of any model (this package's, mmpretrain's, timm's) and says so."""
import copy
from typing import List

import pytest
import timm
import torch
import torch.nn as nn
from mmpretrain.models.backbones import MobileOne as MMPretrainMobileOne

from mobileone_mm import MobileOne, MobileOneBlock, reparameterize_model
from mobileone_mm.models import mobileone_blocks
from mobileone_mm.testing.weights import make_realistic_, randomize_batch_norm_
from mobileone_mm.utils.numerics import relative_error

FLOAT64_TOLERANCE = 1e-8


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> List[str]:
    """The messages reparameterize_model logs."""
    messages = []
    monkeypatch.setattr('mobileone_mm.models.reparameterize.print_log',
                        lambda message, **kwargs: messages.append(message))
    return messages


@torch.no_grad()
def assert_fuses_exactly(model: nn.Module, x: torch.Tensor) -> None:
    model.double().eval()  # not chained: mmpretrain's MobileOne.train returns None
    x = x.double()
    expected = copy.deepcopy(model)(x)
    assert reparameterize_model(model) is model
    actual = model(x)
    for out, reference in zip(actual if isinstance(actual, tuple) else (actual, ),
                              expected if isinstance(expected, tuple) else (expected, )):
        assert relative_error(out, reference) <= FLOAT64_TOLERANCE
    assert all(fused for _, _, fused in mobileone_blocks(model))


def test_fuses_blocks_anywhere_in_a_model_and_logs_the_count(logged):
    model = nn.Sequential(make_realistic_(MobileOne('s0')), make_realistic_(MobileOneBlock(1024, 1024, 1, 2), 1))
    model.forward = lambda x: model[1](model[0](x)[0])
    assert_fuses_exactly(model, torch.randn(1, 3, 64, 64))
    assert model[0].deploy
    assert logged == ['reparameterize_model: fused 44 MobileOne blocks (44 mobileone_mm)']


def test_fuses_mmpretrains_mobileone_by_its_own_switch_to_deploy(logged):
    model = make_realistic_(MMPretrainMobileOne('s0', out_indices=(0, 1, 2, 3)))
    assert_fuses_exactly(model, torch.randn(1, 3, 64, 64))
    assert model.deploy and all(block.deploy for _, block, _ in mobileone_blocks(model))
    assert logged == ['reparameterize_model: fused 43 MobileOne blocks (43 mmpretrain)']


def test_fuses_timms_mobileone_by_its_own_reparameterize(logged):
    model = randomize_batch_norm_(timm.create_model('mobileone_s0', pretrained=False, num_classes=10))
    assert_fuses_exactly(model, torch.randn(1, 3, 64, 64))
    assert logged == ['reparameterize_model: fused 43 MobileOne blocks (43 timm)']


def test_a_fused_model_is_left_as_it_is_without_a_word(logged, recwarn):
    model = reparameterize_model(MobileOne('s0'))
    logged.clear()
    state = copy.deepcopy(model.state_dict())
    reparameterize_model(model)
    assert not logged and not recwarn.list
    assert all(torch.equal(value, state[key]) for key, value in model.state_dict().items())


def test_a_model_without_mobileone_blocks_gets_a_warning(logged):
    with pytest.warns(UserWarning, match='Linear holds no MobileOne block .*nothing was fused'):
        reparameterize_model(nn.Linear(2, 2))
    assert not logged
