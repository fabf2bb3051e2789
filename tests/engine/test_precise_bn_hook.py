"""PreciseBNHook: BN statistics recomputed as the plain average over training batches."""
import copy
from types import SimpleNamespace
from typing import Optional

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import CheckpointHook, EMAHook
from mmengine.logging import MMLogger
from mmengine.model import BaseModel
from mmengine.runner import get_priority

from mobileone_mm import PreciseBNHook
from mobileone_mm.engine.hooks.precise_bn_hook import recompute_batch_norm_statistics
from mobileone_mm.registry import HOOKS


class TwoNorms(BaseModel):
    """conv -> BN (trains) -> BN (frozen, as ``norm_eval`` leaves it)."""

    def __init__(self, data_preprocessor: Optional[nn.Module] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor)
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


def test_random_crops_of_different_sizes_are_padded_as_in_training():
    """mmseg's preprocessor pads a training batch to the crop size; in eval mode it refuses images of two sizes."""
    from mmengine.structures import PixelData
    from mmseg.models import SegDataPreProcessor
    from mmseg.structures import SegDataSample

    samples = []
    for height, width in ((12, 16), (16, 10)):  # crops cut at the image border
        sample = SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width)))
        sample.gt_sem_seg = PixelData(data=torch.zeros(1, height, width, dtype=torch.long))
        samples.append(sample)
    batch = dict(inputs=[torch.randint(0, 256, (3, *sample.img_shape), dtype=torch.uint8) for sample in samples],
                 data_samples=samples)
    model = TwoNorms(SegDataPreProcessor(size=(16, 16))).eval()
    assert recompute_batch_norm_statistics(model, [batch], num_batches=1) == 1
    assert not torch.equal(model.trained_norm.running_var, torch.ones(4))


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


def batches_of_rank(rank: int) -> list:
    generator = torch.Generator().manual_seed(rank)
    return [dict(inputs=torch.randn(5, 3, 8, 8, generator=generator) * (rank + 1) + 2 * rank) for _ in range(2)]


def recompute_in_process(rank: int, init_file: str, out_dir: str) -> None:
    """One of two gloo processes: the same model, its own batches, the statistics saved for the test to compare."""
    torch.distributed.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        model = TwoNorms().eval()
        used = recompute_batch_norm_statistics(model, batches_of_rank(rank), num_batches=2)
        torch.save(dict(used=used, mean=model.trained_norm.running_mean, var=model.trained_norm.running_var),
                   f'{out_dir}/rank{rank}.pth')
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_processes_that_see_different_data_end_with_the_statistics_of_all_their_batches(tmp_path):
    torch.multiprocessing.spawn(recompute_in_process, args=(str(tmp_path / 'init'), str(tmp_path)), nprocs=2)
    ranks = [torch.load(tmp_path / f'rank{rank}.pth') for rank in (0, 1)]
    torch.manual_seed(0)
    model = TwoNorms().eval()  # one process over the batches of both
    assert recompute_batch_norm_statistics(model, batches_of_rank(0) + batches_of_rank(1), num_batches=4) == 4
    for rank in ranks:
        assert rank['used'] == 4
        torch.testing.assert_close(rank['mean'], model.trained_norm.running_mean, rtol=1e-6, atol=1e-6)
        torch.testing.assert_close(rank['var'], model.trained_norm.running_var, rtol=1e-6, atol=1e-6)
    assert torch.equal(ranks[0]['mean'], ranks[1]['mean']) and torch.equal(ranks[0]['var'], ranks[1]['var'])


def test_an_ema_model_with_its_own_buffers_gets_the_statistics_of_its_own_weights():
    """The EMA model is what is validated and saved; its averaged buffers mix statistics of many past weights."""
    torch.manual_seed(0)
    model = TwoNorms()
    batches = [dict(inputs=torch.randn(5, 3, 8, 8) + shift) for shift in (0.0, 1.0, 2.0)]
    ema = EMAHook(momentum=0.5, update_buffers=True)
    runner = SimpleNamespace(model=model, hooks=[ema], train_dataloader=batches, logger=MMLogger.get_current_instance())
    ema.before_run(runner)
    with torch.no_grad():
        model.conv.weight.mul_(3)  # the weights move on, the averaged ones lag behind
    PreciseBNHook(num_batches=3).recompute(runner)
    for module in (model, ema.ema_model.module):
        expected = copy.deepcopy(module)
        recompute_batch_norm_statistics(expected, batches, num_batches=3)
        torch.testing.assert_close(module.trained_norm.running_mean, expected.trained_norm.running_mean)
        torch.testing.assert_close(module.trained_norm.running_var, expected.trained_norm.running_var)
    assert not torch.allclose(model.trained_norm.running_var, ema.ema_model.module.trained_norm.running_var)
    # It runs after EMAHook has averaged the last iteration (else that would blend the recomputed statistics into
    # the averaged ones) and before CheckpointHook saves.
    assert get_priority('ABOVE_NORMAL') < get_priority(EMAHook.priority) < get_priority(PreciseBNHook.priority)
    assert get_priority(PreciseBNHook.priority) < get_priority(CheckpointHook.priority)
