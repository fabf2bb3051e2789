"""Atomic writes keep the permissions a plain write would give."""
import os
import stat

import pytest
import torch

from mobileone_mm.utils.files import new_file_mode, save_atomically


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_checkpoint_gets_the_mode_open_gives_under_the_umask(tmp_path, umask_022):
    save_atomically({'weight': torch.ones(1)}, tmp_path / 'epoch_1.pth')
    (tmp_path / 'plain.txt').write_text('')
    assert mode(tmp_path / 'epoch_1.pth') == mode(tmp_path / 'plain.txt') == 0o644 == new_file_mode()
    assert os.umask(0o022) == 0o022  # reading the umask left it as it was


def test_a_replaced_file_keeps_its_mode_and_nothing_temporary_is_left(tmp_path, umask_022):
    path = tmp_path / 'model.pth'
    path.write_bytes(b'old')
    os.chmod(path, 0o640)
    save_atomically({'weight': torch.ones(1)}, path)
    assert mode(path) == 0o640
    assert torch.load(path)['weight'].item() == 1
    assert [entry.name for entry in tmp_path.iterdir()] == ['model.pth']
