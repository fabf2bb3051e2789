"""Batch-norm statistics recomputed on training data before evaluation (precise BN).

A network trained from scratch with a high learning rate changes faster than
BN's running averages (momentum 0.1) follow: in eval mode the stale statistics
then give outputs far from the training-mode ones. :class:`PreciseBNHook`
recomputes every BN layer's running mean and variance as a plain average over
a number of training batches with the current weights before checkpoints
and validations, so that the checkpoint, its evaluation and its
re-parameterization all use statistics of the final weights (Wu & Johnson,
"Rethinking 'Batch' in BatchNorm", 2021).

With an ``EMAHook`` whose averaged model carries its own BN buffers
(``update_buffers=True``, as mmpretrain's recipes set it), the averaged
weights are what is validated and saved, with the averaged buffers: those
mix statistics of many past weights, so they are recomputed for the
averaged weights too. Unlike mmpretrain's ``PreciseBNHook`` it does that, and
it works with any dataloader (mmdet's batch samplers included) and in
mmpretrain, mmdet and mmseg configs alike:
``custom_hooks=[dict(type='mobileone_mm.PreciseBNHook', num_batches=50)]``.
"""
import itertools
from typing import Iterable, List

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import EMAHook, Hook
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm

from ...registry import HOOKS


@torch.no_grad()
def recompute_batch_norm_statistics(model: torch.nn.Module, dataloader: Iterable, num_batches: int) -> int:
    """Sets the running statistics of every BN layer that trains to their average over ``num_batches`` batches.

    The model runs in train mode (``mode='tensor'``: no loss, no gradients)
    on the batches as its data preprocessor prepares them for training (e.g.
    mmseg's padded to the crop size: in eval mode it refuses random crops
    of different sizes).
    BN layers that the model's ``train()`` leaves in eval mode (``norm_eval``,
    ``frozen_stages``) keep their statistics. The model's train/eval state
    is restored afterwards. In distributed training every process ends with
    the average over all processes' batches (:func:`average_across_processes_`),
    so that all of them validate and save the same statistics.

    Returns:
        int: The number of batches used, over all processes.
    """
    training = model.training
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.training and m.track_running_stats]
    momenta = [norm.momentum for norm in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative average
    used = 0
    for data in itertools.islice(dataloader, num_batches):
        model(model.data_preprocessor(data, True)['inputs'], mode='tensor')
        used += 1
    used = average_across_processes_(norms, used)
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    model.train(training)
    return used


@torch.no_grad()
def average_across_processes_(norms: List[_BatchNorm], used: int) -> int:
    """Makes every process's statistics the average over all processes' batches; returns their number.

    Each process holds the average of its ``used`` batches' means and
    variances; weighted by ``used``, their all-reduced sums give the average
    over every batch of every process, as one process would compute it over
    all of them. A no-op outside distributed training.
    """
    if get_world_size() == 1 or not norms:
        return used
    sums = torch.cat([torch.cat([norm.running_mean, norm.running_var]) * used for norm in norms]
                     + [torch.tensor([float(used)], device=norms[0].running_mean.device)]).double()
    all_reduce(sums, op='sum')
    total = int(round(float(sums[-1])))
    averages = (sums[:-1] / max(total, 1)).split([2 * norm.num_features for norm in norms])
    for norm, average in zip(norms, averages):
        mean, var = average.split(norm.num_features)
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)
    return total


@HOOKS.register_module()
class PreciseBNHook(Hook):
    """Recomputes BN statistics on training batches every ``interval`` epochs (or iterations) and at the end.

    It runs after the training step and before the checkpoint is saved and
    the model validated, so both see the recomputed statistics.

    Args:
        num_batches (int): Training batches to average over. Defaults to 50.
        interval (int): Epochs between recomputations for epoch-based
            training, iterations for iteration-based training; the last epoch
            or iteration always recomputes. Defaults to 1.
    """
    # After EMAHook (NORMAL; ABOVE_NORMAL in mmpretrain's configs) has averaged the last iteration, which would mix
    # the recomputed statistics into its averaged ones; before CheckpointHook (VERY_LOW) saves.
    priority = 'LOW'

    def __init__(self, num_batches: int = 50, interval: int = 1) -> None:
        for name, value in (('num_batches', num_batches), ('interval', interval)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f'{name} must be a positive int, got {value!r}')
        self.num_batches = num_batches
        self.interval = interval

    def after_train_epoch(self, runner) -> None:
        if self.every_n_epochs(runner, self.interval) or self.is_last_train_epoch(runner):
            self.recompute(runner)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        by_epoch = getattr(runner.train_loop, 'max_epochs', None) is not None
        if not by_epoch and (self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner)):
            self.recompute(runner)

    def recompute(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        averaged = [hook.ema_model.module for hook in runner.hooks
                    if isinstance(hook, EMAHook) and getattr(hook, 'ema_model', None) is not None
                    and hook.ema_model.update_buffers]
        for name, each in [('model', model)] + [('EMA model', module) for module in averaged]:
            used = recompute_batch_norm_statistics(each, runner.train_dataloader, self.num_batches)
            runner.logger.info(f'PreciseBN: BN statistics of the {name} recomputed over {used} training batches')
