"""Weights-only checkpoint loading for mmengine, with an explicit allow-list.

torch >= 2.6 unpickles with ``weights_only=True`` by default, and mmengine
0.10.7 calls ``torch.load`` without the argument, so its own runner checkpoints
(which pickle a message hub with numpy values and ``HistoryBuffer`` s) fail to
load on resume, ``load_from`` and ``Pretrained`` init. Instead of switching the
check off, every mmengine checkpoint loader runs inside
``torch.serialization.safe_globals`` with just the globals those checkpoints
name; a pickle that names anything else is refused.
"""
import builtins
import codecs
import collections
import errno
import functools
import os.path as osp
import pickle
from typing import Any, Callable, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


class UnsafeCheckpointError(pickle.UnpicklingError):
    """Raised for a checkpoint whose pickle names a global outside the allow-list."""


class CheckpointFileError(ValueError):
    """Raised for a file given as a checkpoint that is none: empty, truncated, or not torch's format."""


def allowed_checkpoint_globals() -> List[Any]:
    """The globals that mmengine's runner checkpoints name besides tensors and plain containers.

    ``getattr`` is there because a ``HistoryBuffer`` pickles its statistics
    methods as ``getattr(HistoryBuffer, 'min')``. It is safe in this list: the
    weights-only unpickler only calls callables that are themselves allowed,
    so what ``getattr`` returns can be stored but never called.
    """
    numpy_core = np._core if int(np.__version__.split('.')[0]) >= 2 else np.core  # numpy 2 renamed np.core
    numpy_dtype_classes = [type(np.dtype(name)) for name in ('float16', 'float32', 'float64', 'int32', 'int64',
                                                              'uint8', 'bool')]
    return [
        HistoryBuffer,
        builtins.getattr,
        codecs.encode,  # bytes of numpy arrays and scalars
        collections.OrderedDict,
        collections.Counter,
        np.dtype,
        *numpy_dtype_classes,  # numpy >= 1.25 builds dtypes through their class
        np.ndarray,
        numpy_core.multiarray._reconstruct,
        numpy_core.multiarray.scalar,
    ]


def load_with_allow_list(load: Callable[[], Any], filename: str) -> Any:
    """Runs ``load()`` (a weights-only ``torch.load`` of ``filename``) with the allow-list, naming what goes wrong.

    Raises:
        UnsafeCheckpointError: If the pickle names a global outside the
            allow-list (and only then: a pickle can run code).
        CheckpointFileError: If the file is empty, truncated or not a
            checkpoint at all, in one line that names it.
    """
    if '://' not in filename and osp.isfile(filename) and osp.getsize(filename) == 0:
        raise CheckpointFileError(f'checkpoint {filename} is empty (0 bytes), as a save interrupted at its start '
                                  'leaves it; use another checkpoint')
    with torch.serialization.safe_globals(allowed_checkpoint_globals()):
        try:
            return load()
        except pickle.UnpicklingError as error:
            if 'GLOBAL' not in str(error):
                raise CheckpointFileError(f'{filename} is not a checkpoint: torch cannot unpickle it '
                                          f'({last_line(error)})') from error
            raise UnsafeCheckpointError(
                f'refused to load checkpoint {filename!r}: its pickle names a global outside mobileone_mm\'s '
                'allow-list for weights-only loading, and a pickle can run code. If you trust the file, '
                f'add the global with torch.serialization.add_safe_globals. Details: {last_line(error)}') from error
        except (EOFError, IndexError, KeyError, UnicodeDecodeError) as error:  # no pickle (text), or a cut one
            raise CheckpointFileError(f'{filename} is not a checkpoint (or a truncated one): torch.load failed with '
                                      f'{type(error).__name__}: {error}') from error
        except (RuntimeError, OSError) as error:  # a cut zip archive: miniz's error, or a seek past its end
            if 'PytorchStreamReader' not in str(error) and getattr(error, 'errno', None) != errno.EINVAL:
                raise
            reason = str(error).splitlines()[0].split('. ')[0]
            raise CheckpointFileError(f'checkpoint {filename} is truncated or corrupt: it is not a complete zip '
                                      f'archive as torch.save writes ({reason})') from error


def last_line(error: Exception) -> str:
    """The last non-empty line of an error's message: where torch's weights-only errors say what they found."""
    lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith('Check the doc')]
    return lines[-1] if lines else type(error).__name__


def with_allow_list(loader: Callable) -> Callable:
    """Wraps an mmengine checkpoint loader so it unpickles weights-only with the allow-list."""

    @functools.wraps(loader)
    def load(filename: str, *args, **kwargs) -> Any:
        return load_with_allow_list(lambda: loader(filename, *args, **kwargs), filename)

    load.uses_allow_list = True
    return load


def install_safe_checkpoint_loading() -> None:
    """Re-registers every mmengine checkpoint scheme with the allow-list; idempotent."""
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if not getattr(loader, 'uses_allow_list', False):
            CheckpointLoader.register_scheme(prefix, with_allow_list(loader), force=True)
