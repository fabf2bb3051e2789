"""The oldest versions of the stack this package works with, checked when it is imported.

Imported into an existing OpenMMLab environment (``custom_imports``), an older
torch or numpy would otherwise fail later and far from the cause, e.g. at every
checkpoint load of the process once :mod:`mobileone_mm.compat` has wrapped
mmengine's loaders. ``pyproject.toml`` declares the same bounds
(``tests/test_versions.py`` holds the two together).
"""
from importlib import metadata
from typing import Callable, Dict, Tuple

from packaging.version import Version

# distribution: (oldest version, what needs it)
MINIMUM_VERSIONS: Dict[str, Tuple[str, str]] = {
    'torch': ('2.5', "torch.serialization.safe_globals, with which mmengine's checkpoints load weights-only"),
    'numpy': ('1.25', 'the numpy globals of the checkpoint allow-list, and matplotlib, which mmengine imports'),
    'mmengine': ('0.10.0', 'the checkpoint loading and saving of mmengine 0.10 that mobileone_mm.compat wraps'),
    'mmcv': ('2.0.0', 'the conv, norm and activation builders of mmcv 2'),
}


def check_stack_versions(installed_version: Callable[[str], str] = metadata.version) -> None:
    """Raises ImportError, naming the package and what needs it, if one of :data:`MINIMUM_VERSIONS` is older.

    Args:
        installed_version (Callable): The installed version of a distribution
            (``importlib.metadata.version``).
    """
    for distribution, (oldest, reason) in MINIMUM_VERSIONS.items():
        try:
            found = installed_version(distribution)
        except metadata.PackageNotFoundError:
            raise ImportError(f'mobileone_mm needs {distribution} >= {oldest} ({reason}); it is not '
                              'installed') from None
        if Version(found).release < Version(oldest).release:
            raise ImportError(f'mobileone_mm needs {distribution} >= {oldest} ({reason}), found {found}: upgrade it, '
                              f'e.g. pip install "{distribution}>={oldest}"')
