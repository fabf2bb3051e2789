"""mmengine 0.10.7 writes checkpoints and ``last_checkpoint`` in place: a kill while it writes truncates them.

``save_checkpoint`` hands the bytes to ``LocalBackend.put`` (``open(path, 'wb')``
over the previous file), and ``CheckpointHook`` rewrites ``last_checkpoint``
with ``open(path, 'w')``. A kill during either left a 0-byte or cut
checkpoint, and ``last_checkpoint`` pointing to it. Here a local checkpoint is
written to a temporary file in its folder, flushed to disk and renamed over
the target (:func:`~mobileone_mm.utils.files.save_atomically`), and
``CheckpointHook`` writes ``last_checkpoint`` the same way, after the
checkpoint; other storage backends keep mmengine's writer. Each save removes the
temporary files that saves killed earlier left in its folder. Delete this
module once mmengine writes atomically.
"""
import contextlib
import io
import os.path as osp
from typing import Iterator, Optional

import mmengine.hooks.checkpoint_hook as checkpoint_hook
import mmengine.runner.runner as runner_module

from ..utils.files import remove_stale_temporaries, replace_atomically, save_atomically


def is_local(filename: str) -> bool:
    return '://' not in str(filename)


def is_checkpoint_file(name: str) -> bool:
    """Whether the runner writes a file of this name: a checkpoint or ``last_checkpoint``."""
    return name.endswith('.pth') or name == 'last_checkpoint'


@contextlib.contextmanager
def open_text_atomically(path: str, mode: str = 'r', *args, **kwargs) -> Iterator[io.TextIOBase]:
    """``open`` for ``CheckpointHook``: a ``'w'`` file is written aside and renamed over ``path`` when it closes."""
    if mode != 'w':
        with open(path, mode, *args, **kwargs) as file:
            yield file
        return
    buffer = io.StringIO()
    yield buffer
    replace_atomically(path, buffer.getvalue().encode())


def install_atomic_checkpoint_saving() -> None:
    """Makes mmengine's runner save local checkpoints, and ``CheckpointHook`` ``last_checkpoint``, atomically."""
    original = runner_module.save_checkpoint
    if getattr(original, 'is_atomic', False):
        return

    def save_checkpoint(checkpoint: dict, filename: str, file_client_args: Optional[dict] = None,
                        backend_args: Optional[dict] = None) -> None:
        if is_local(filename) and file_client_args is None and backend_args is None:
            save_atomically(checkpoint, filename)
            remove_stale_temporaries(osp.dirname(osp.abspath(filename)), is_checkpoint_file)
        else:
            original(checkpoint, filename, file_client_args=file_client_args, backend_args=backend_args)

    save_checkpoint.is_atomic = True
    runner_module.save_checkpoint = save_checkpoint
    checkpoint_hook.open = open_text_atomically  # the hook's only use of open: writing last_checkpoint
