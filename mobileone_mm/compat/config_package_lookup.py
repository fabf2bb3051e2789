"""mmengine 0.10.7's ``Config.fromfile`` looks each ``package::`` base config up from scratch.

To find where ``mmpretrain::_base_/default_runtime.py`` lives, it
- asks ``mmengine.utils.is_installed('mmpretrain')``, which reloads
  ``pkg_resources`` (0.07 s, and setuptools' deprecation warning each time);
- has ``mmengine.config.utils._get_cfg_metainfo`` load the package's
  ``.mim/model-index.yml`` and every metafile it lists (102 YAML files for
  mmdet) to look the name up among their models; a ``_base_/`` file has no
  entry, so it then falls back to the file's path.
It does both anew for every such base of every config it reads: 0.53 s of the
0.63 s that ``Config.fromfile`` takes for the shipped RetinaNet config
(cProfile), and the tools, mmdeploy and the tests read configs many times.

Here each metafile is parsed once per process, and a package found installed
stays found: installed packages and their metafiles do not change while a
process runs, and mmengine only reads what it parsed. A package not found is
looked for again; the lookup itself, its fallback and its errors are
mmengine's.

Delete this module once mmengine caches both.
"""
import functools
from typing import Any

from mmengine.config import config as config_module
from mmengine.config import utils as config_utils
from mmengine.fileio import load
from mmengine.utils import is_installed

INSTALLED = set()


@functools.lru_cache(maxsize=None)
def load_metafile(path: str) -> Any:
    """``mmengine.fileio.load(path)``, parsed once per path."""
    return load(path)


def is_installed_once(package: str) -> bool:
    """``mmengine.utils.is_installed(package)``, asked until it answers yes."""
    if package not in INSTALLED and is_installed(package):
        INSTALLED.add(package)
    return package in INSTALLED


def install_config_package_lookup() -> None:
    """Makes ``Config.fromfile`` look each package and metafile up once; idempotent."""
    config_utils.load = load_metafile
    config_module.is_installed = is_installed_once
