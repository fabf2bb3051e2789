"""Writing output files all or nothing, never over their input."""
import contextlib
import os
import os.path as osp
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, List, Union

import torch

PathLike = Union[str, os.PathLike]
# The temporary file of write_atomically: '.<name>.<mkstemp's 8 random characters>.tmp' beside the target.
TEMPORARY_FILE = re.compile(r'\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp')


def check_output_path(out: PathLike, input_path: PathLike) -> None:
    """Refuses an OUT that is the input file or a folder, or whose folder does not exist."""
    out = Path(out)
    if out.exists() and Path(input_path).exists() and os.path.samefile(out, input_path):
        raise ValueError(f'refusing to overwrite the input checkpoint {str(input_path)!r}; choose another OUT')
    if out.is_dir():
        raise IsADirectoryError(f'OUT {str(out)!r} is a folder; give a file name')
    if not out.parent.is_dir():
        raise FileNotFoundError(f'the folder of OUT {str(out)!r} does not exist')


@contextlib.contextmanager
def folder_removed_on_failure(folder: PathLike) -> Iterator[None]:
    """Makes ``folder`` if it does not exist, and removes it again if the block fails (one it did not make stays)."""
    created = not osp.exists(folder)
    os.makedirs(folder, exist_ok=True)
    try:
        yield
    except BaseException:
        if created:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def save_atomically(obj: Any, path: PathLike) -> None:
    """``torch.save`` into a temporary file beside ``path``, flushed to disk, then renamed over ``path``.

    ``path`` is never half-written: a kill or an error at any moment leaves
    the previous file (or none) in place, and an error removes the temporary
    file.
    """
    write_atomically(path, lambda file: torch.save(obj, file))


def replace_atomically(path: PathLike, data: bytes) -> None:
    """Writes ``data`` to ``path`` as :func:`save_atomically` writes a checkpoint."""
    write_atomically(path, lambda file: file.write(data))


def write_atomically(path: PathLike, write: Callable[[BinaryIO], Any]) -> None:
    """Calls ``write`` on a temporary file beside ``path``, flushes it to disk and renames it over ``path``.

    The file gets the mode of the file it replaces, or the mode ``open()``
    gives a new file (:func:`new_file_mode`): ``mkstemp`` makes it owner-only.
    """
    path = os.fspath(path)
    mode = os.stat(path).st_mode & 0o7777 if osp.exists(path) else new_file_mode()
    handle, temporary = tempfile.mkstemp(dir=osp.dirname(osp.abspath(path)), prefix=f'.{osp.basename(path)}.',
                                         suffix='.tmp')  # TEMPORARY_FILE
    try:
        with os.fdopen(handle, 'wb') as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        if osp.exists(temporary):
            os.unlink(temporary)
        raise


def new_file_mode() -> int:
    """The mode ``open(path, 'w')`` gives a new file: ``0o666`` less the process's umask.

    Python has no getter for the umask: it is read by setting it and setting
    it back at once.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def remove_stale_temporaries(folder: PathLike, names: Callable[[str], bool]) -> List[str]:
    """Removes the temporary files :func:`write_atomically` left in ``folder`` when it was killed.

    Only files of its own pattern (:data:`TEMPORARY_FILE`) whose target name
    ``names`` accepts are removed; call it when no atomic write into
    ``folder`` is under way.

    Returns:
        list[str]: The paths removed.
    """
    removed = []
    for entry in os.scandir(folder):
        match = TEMPORARY_FILE.fullmatch(entry.name)
        if match and names(match['name']) and entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
            removed.append(entry.path)
    return removed
