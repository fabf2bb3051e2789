"""``Config.fromfile`` parses each metafile of an installed package once, and reads the configs it read before."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.config import utils as config_utils
from mmengine.fileio import load

from mobileone_mm.compat import config_metafile_cache
from mobileone_mm.compat.config_metafile_cache import load_metafile

ROOT = Path(__file__).resolve().parents[2]
# Bases of mmpretrain (three `_base_/` files), mmdet and mmseg (a config of the model zoo each).
CONFIGS = ['mobileone_s0_8xb32_in1k.py', 'retinanet_mobileone_s0_coco.py',
           'deeplabv3_mobileone_s1_d8_4xb4_20k_voc12aug_512x512.py']


@pytest.fixture
def parsed(monkeypatch) -> list:
    """The paths the cache parses from now on, with an empty cache."""
    paths = []
    load_metafile.cache_clear()
    monkeypatch.setattr(config_metafile_cache, 'load', lambda path: paths.append(path) or load(path))
    yield paths
    load_metafile.cache_clear()


def test_importing_the_package_installs_the_cache():
    assert config_utils.load is load_metafile


@pytest.mark.parametrize('name', CONFIGS)
def test_a_config_reads_as_mmengine_reads_it_parsing_each_metafile_once(name, parsed, monkeypatch):
    cached = [Config.fromfile(ROOT / 'configs' / name).to_dict() for _ in range(2)]
    assert parsed and len(parsed) == len(set(parsed))  # the second read parsed nothing
    assert all('.mim' in path for path in parsed)
    monkeypatch.setattr(config_utils, 'load', load)  # mmengine's own lookup
    assert cached[0] == cached[1] == Config.fromfile(ROOT / 'configs' / name).to_dict()


def test_a_base_that_no_package_holds_fails_as_in_mmengine(tmp_path, parsed):
    config = tmp_path / 'config.py'
    config.write_text("_base_ = 'mmdet::no_such_family/no_such_config.py'\n")
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        Config.fromfile(config)
