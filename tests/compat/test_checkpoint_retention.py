"""mmengine's CheckpointHook removes old checkpoints only after the new one is saved: a failed save loses none.

The hook is mmengine's own, driven by a stand-in for the few runner members
its saving uses; a save "killed" halfway raises, as the last thing it does.
"""
import os
from pathlib import Path
from typing import List

import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger

import mobileone_mm  # noqa: F401  (installs the patches)
from mobileone_mm.compat.atomic_checkpoint_saving import is_checkpoint_file
from mobileone_mm.utils.files import remove_stale_temporaries, save_atomically


class Killed(Exception):
    """A save that stopped halfway."""


class SavingRunner:
    """What CheckpointHook's saving uses of mmengine's runner; ``killed`` makes the next save fail."""

    def __init__(self, work_dir: Path, name: str) -> None:
        self.work_dir = str(work_dir)
        self.logger = MMLogger.get_instance('mobileone_mm_test_retention')
        self.message_hub = MessageHub.get_instance(name)
        self.epoch = self.iter = 0
        self.killed = False

    def save_checkpoint(self, out_dir: str, filename: str, *args, **kwargs) -> None:
        if self.killed:
            raise Killed(filename)
        save_atomically({'meta': {'step': self.iter}}, os.path.join(out_dir, filename))


def saved(work_dir: Path) -> List[str]:
    return sorted(path.name for path in work_dir.glob('*.pth'))


@pytest.mark.parametrize('by_epoch', [True, False], ids=['epochs', 'iterations'])
@pytest.mark.parametrize('max_keep_ckpts', [1, 2])
def test_a_save_that_fails_removes_no_old_checkpoint(by_epoch, max_keep_ckpts, tmp_path, request):
    runner = SavingRunner(tmp_path, request.node.name)
    hook = CheckpointHook(interval=1, by_epoch=by_epoch, max_keep_ckpts=max_keep_ckpts)
    hook.before_train(runner)
    name = 'epoch_{}.pth' if by_epoch else 'iter_{}.pth'
    for step in (1, 2, 3):
        hook._save_checkpoint_with_step(runner, step, {})
    kept = [name.format(step) for step in (3, 2, 1)[:max_keep_ckpts]]
    assert saved(tmp_path) == sorted(kept)
    runner.killed = True
    with pytest.raises(Killed):
        hook._save_checkpoint_with_step(runner, 4, {})
    assert saved(tmp_path) == sorted(kept)  # mmengine had removed the oldest one before saving
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / name.format(3))
    # resumed from step 3, whose message hub lists the checkpoints kept then
    resumed = SavingRunner(tmp_path, f'{request.node.name}-resumed')
    resumed.message_hub.update_info('keep_ckpt_ids', [1, 2, 3][-max_keep_ckpts:])
    hook = CheckpointHook(interval=1, by_epoch=by_epoch, max_keep_ckpts=max_keep_ckpts)
    hook.before_train(resumed)
    hook._save_checkpoint_with_step(resumed, 4, {})
    assert saved(tmp_path) == sorted([name.format(4), *kept[:max_keep_ckpts - 1]])
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / name.format(4))


def test_a_best_checkpoint_replaces_the_previous_one_only_once_saved(tmp_path, request):
    runner = SavingRunner(tmp_path, request.node.name)
    hook = CheckpointHook(interval=1, max_keep_ckpts=1, save_best='accuracy', rule='greater')
    hook.before_train(runner)
    for epoch, accuracy in ((1, 0.5), (2, 0.7)):
        runner.epoch = epoch
        hook._save_checkpoint_with_step(runner, epoch, {})
        hook._save_best_checkpoint(runner, {'accuracy': accuracy})
        assert saved(tmp_path) == [f'best_accuracy_epoch_{epoch}.pth', f'epoch_{epoch}.pth']
    runner.epoch, runner.killed = 3, True
    with pytest.raises(Killed):
        hook._save_best_checkpoint(runner, {'accuracy': 0.9})
    assert saved(tmp_path) == ['best_accuracy_epoch_2.pth', 'epoch_2.pth']


def test_a_save_removes_the_temporary_files_of_killed_saves_and_nothing_else(tmp_path):
    stale = [tmp_path / '.epoch_2.pth.k3j_9x0a.tmp', tmp_path / '.last_checkpoint.abcdefgh.tmp']
    others = [tmp_path / '.notes.txt.abcdefgh.tmp', tmp_path / 'epoch_2.pth.abcdefgh.tmp', tmp_path / '.epoch_1.pth']
    for path in stale + others:
        path.write_bytes(b'half a checkpoint')
    torch.save({}, tmp_path / 'epoch_1.pth')
    from mmengine.runner import runner as runner_module
    runner_module.save_checkpoint({'meta': {}}, str(tmp_path / 'epoch_3.pth'))
    assert not any(path.exists() for path in stale) and all(path.exists() for path in others)
    assert remove_stale_temporaries(tmp_path, is_checkpoint_file) == []
