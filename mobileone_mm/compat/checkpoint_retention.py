"""mmengine 0.10.7 removes old checkpoints before it saves the new one: a kill in between loses every checkpoint.

``CheckpointHook._save_checkpoint_with_step`` deletes the checkpoints beyond
``max_keep_ckpts`` first ("remove other checkpoints before save checkpoint"),
and ``_save_best_checkpoint`` deletes the previous best before it saves the
new one; with ``max_keep_ckpts=1`` a kill while ``epoch_2.pth`` was written
left no checkpoint and a ``last_checkpoint`` naming a deleted file. Here both
run with their file backend's ``remove`` and ``rmtree`` deferred: what they
would delete is deleted once they return, that is once the new checkpoint is
complete and ``last_checkpoint`` names it (a path the call saved is kept). A
save that fails deletes nothing. Delete this module once mmengine saves
before it removes.
"""
import functools
from typing import Callable

from mmengine.hooks import CheckpointHook


def save_before_removing(save: Callable) -> Callable:
    """Wraps a ``CheckpointHook`` saving method so that the removals it asks for happen after it returns."""

    @functools.wraps(save)
    def wrapper(hook: CheckpointHook, *args, **kwargs) -> None:
        backend = hook.file_backend
        if 'remove' in vars(backend):  # called by the other one (the best checkpoint saves the latest again)
            return save(hook, *args, **kwargs)
        deferred = []
        backend.remove = lambda path: deferred.append((type(backend).remove, path))
        backend.rmtree = lambda path: deferred.append((type(backend).rmtree, path))
        try:
            save(hook, *args, **kwargs)
        finally:
            del backend.remove, backend.rmtree
        best = getattr(hook, 'best_ckpt_path_dict', {'': getattr(hook, 'best_ckpt_path', None)})
        saved = {hook.last_ckpt, *best.values()}
        for remove, path in deferred:
            if path not in saved:
                remove(backend, path)

    wrapper.saves_before_removing = True
    return wrapper


def install_checkpoint_retention() -> None:
    """Makes ``CheckpointHook`` remove old checkpoints only after the new one is saved; idempotent."""
    for name in ('_save_checkpoint_with_step', '_save_best_checkpoint'):
        method = getattr(CheckpointHook, name)
        if not getattr(method, 'saves_before_removing', False):
            setattr(CheckpointHook, name, save_before_removing(method))
