"""``Config.fromfile`` looks each installed package and metafile up once, and reads configs as mmengine reads them."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.config import config as config_module
from mmengine.config import utils as config_utils
from mmengine.fileio import load
from mmengine.utils import is_installed

from mobileone_mm.compat import config_package_lookup
from mobileone_mm.compat.config_package_lookup import is_installed_once, load_metafile

ROOT = Path(__file__).resolve().parents[2]
# Bases of mmpretrain (three `_base_/` files), mmdet and mmseg (a config of the model zoo each).
CONFIGS = ['mobileone_s0_8xb32_in1k.py', 'retinanet_mobileone_s0_coco.py',
           'deeplabv3_mobileone_s1_d8_4xb4_20k_voc12aug_512x512.py']


@pytest.fixture
def lookups(monkeypatch) -> dict:
    """What the lookups ask mmengine from now on, starting from nothing known."""
    asked = dict(metafiles=[], packages=[])
    load_metafile.cache_clear()
    monkeypatch.setattr(config_package_lookup, 'INSTALLED', set())
    monkeypatch.setattr(config_package_lookup, 'load', lambda path: asked['metafiles'].append(path) or load(path))
    monkeypatch.setattr(config_package_lookup, 'is_installed',
                        lambda package: asked['packages'].append(package) or is_installed(package))
    yield asked
    load_metafile.cache_clear()


def test_importing_the_package_installs_the_lookups():
    assert config_utils.load is load_metafile and config_module.is_installed is is_installed_once


@pytest.mark.parametrize('name', CONFIGS)
def test_a_config_reads_as_mmengine_reads_it_looking_each_package_and_metafile_up_once(name, lookups, monkeypatch):
    cached = [Config.fromfile(ROOT / 'configs' / name).to_dict() for _ in range(2)]
    assert lookups['metafiles'] and len(lookups['metafiles']) == len(set(lookups['metafiles']))
    assert all('.mim' in path for path in lookups['metafiles'])
    assert len(lookups['packages']) == 1  # the framework's package, once for all its bases and both reads
    monkeypatch.setattr(config_utils, 'load', load)  # mmengine's own lookups
    monkeypatch.setattr(config_module, 'is_installed', is_installed)
    assert cached[0] == cached[1] == Config.fromfile(ROOT / 'configs' / name).to_dict()


def test_a_package_not_installed_is_asked_for_again(lookups):
    assert not is_installed_once('no_such_package') and not is_installed_once('no_such_package')
    assert lookups['packages'] == ['no_such_package'] * 2


def test_a_base_that_no_package_holds_fails_as_in_mmengine(tmp_path, lookups):
    config = tmp_path / 'config.py'
    config.write_text("_base_ = 'mmdet::no_such_family/no_such_config.py'\n")
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        Config.fromfile(config)
