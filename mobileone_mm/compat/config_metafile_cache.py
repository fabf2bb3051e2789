"""mmengine 0.10.7's ``Config.fromfile`` reads all of a package's metafiles for each ``package::`` base config.

To find where ``mmpretrain::_base_/default_runtime.py`` lives,
``mmengine.config.utils._get_cfg_metainfo`` loads the package's
``.mim/model-index.yml`` and every metafile it lists (102 YAML files for
mmdet) and looks the name up among their models; a ``_base_/`` file has no
entry, so it then falls back to the file's path. It does so anew for every
such base of every config it reads: 0.46 s of the 0.63 s that
``Config.fromfile`` takes for the shipped RetinaNet config (cProfile), and
the tools, mmdeploy and the tests read configs many times over.

Here each metafile is parsed once per process: an installed package's
metafiles do not change while it runs, and mmengine only reads what it
parsed. The lookup itself, its fallback and its errors are mmengine's.

Delete this module once mmengine parses a package's metafiles once.
"""
import functools
from typing import Any

from mmengine.config import utils as config_utils
from mmengine.fileio import load


@functools.lru_cache(maxsize=None)
def load_metafile(path: str) -> Any:
    """``mmengine.fileio.load(path)``, parsed once per path."""
    return load(path)


def install_metafile_cache() -> None:
    """Makes ``Config.fromfile``'s metafile lookup parse each metafile once; idempotent."""
    config_utils.load = load_metafile
