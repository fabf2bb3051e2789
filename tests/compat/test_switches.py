"""Every compat patch can be switched off with MOBILEONE_MM_COMPAT_OFF; a name that is no patch's is refused."""
import os
import subprocess
import sys

import pytest

from mobileone_mm import compat
from mobileone_mm.compat import PATCHES, install_compat_patches, patches_switched_off


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """The patches installed, by name, without installing them."""
    installed = []
    for name in PATCHES:
        monkeypatch.setitem(compat.PATCHES, name, lambda name=name: installed.append(name))
    return installed


@pytest.mark.parametrize('value, expected_off', [
    ('', set()),
    ('all', set(PATCHES)),
    ('ssd_head_loss_cls', {'ssd_head_loss_cls'}),
    (' atomic_checkpoint_saving , mmdeploy_frame_lookup,', {'atomic_checkpoint_saving', 'mmdeploy_frame_lookup'}),
])
def test_the_variable_switches_off_what_it_names(value, expected_off, calls):
    installed = install_compat_patches({compat.SWITCH_OFF_VARIABLE: value})
    assert installed == calls == [name for name in PATCHES if name not in expected_off]


def test_a_name_that_is_no_patch_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match=r"^MOBILEONE_MM_COMPAT_OFF='ssd_head' names no patch \['ssd_head'\]; "
                       r'allowed: all, or a comma-separated list of weights_only_checkpoint, .*config_package_lookup$'):
        patches_switched_off('ssd_head')


@pytest.mark.slow
def test_importing_with_all_switched_off_leaves_the_stack_as_it_is():
    probe = '''
import sys
from mmengine.runner import CheckpointLoader
from mmengine.runner import runner
from mmengine.config import config, utils
schemes, save = dict(CheckpointLoader._schemes), runner.save_checkpoint
load, installed = utils.load, config.is_installed
finders = list(sys.meta_path)
import mobileone_mm
assert CheckpointLoader._schemes == schemes and runner.save_checkpoint is save and sys.meta_path == finders
assert utils.load is load and config.is_installed is installed
from mmdet.models.dense_heads.ssd_head import SSDHead
assert not hasattr(SSDHead, 'loss_cls')
'''
    completed = subprocess.run([sys.executable, '-c', probe], env=dict(os.environ, MOBILEONE_MM_COMPAT_OFF='all'),
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
