"""The package layout: layers by path, library code free of tools/ and tests/, the old flat module paths kept."""
import ast
import importlib
import sys
from pathlib import Path

import pytest

import mobileone_mm

PACKAGE = Path(mobileone_mm.__file__).parent


def imported_modules(path: Path) -> set:
    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return names | {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}


@pytest.mark.parametrize('path', sorted(PACKAGE.rglob('*.py')), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_library_never_imports_tools_or_tests(path):
    assert not {name for name in imported_modules(path) if name.split('.')[0] in ('tools', 'tests', 'conftest')}


@pytest.mark.parametrize('old, name, new', [
    ('mobileone_mm.mobileone', 'MobileOne', 'mobileone_mm.models.mobileone'),
    ('mobileone_mm.mobileone', 'MobileOneBlock', 'mobileone_mm.models.block'),
    ('mobileone_mm.mobileone', 'arch_channels', 'mobileone_mm.models.archs'),
    ('mobileone_mm.verify', 'relative_error', 'mobileone_mm.utils.numerics'),
    ('mobileone_mm.verify', 'make_realistic_', 'mobileone_mm.testing.weights'),
    ('mobileone_mm.checkpoint', 'UnsafeCheckpointError', 'mobileone_mm.compat.weights_only_checkpoint'),
    ('mobileone_mm.precise_bn', 'PreciseBNHook', 'mobileone_mm.engine.hooks.precise_bn_hook'),
    ('mobileone_mm.task_model', 'load_model_config', 'mobileone_mm.deploy.task_models'),
    ('mobileone_mm.convert', 'convert_file', 'mobileone_mm.convert.converter'),
    ('mobileone_mm.deploy', 'deploy', 'mobileone_mm.deploy.export'),
])
def test_old_module_paths_give_the_same_objects(old, name, new):
    assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)


def test_old_module_path_warns_naming_the_new_modules(monkeypatch):
    monkeypatch.delitem(sys.modules, 'mobileone_mm.verify', raising=False)
    with pytest.warns(FutureWarning, match='mobileone_mm.verify moved to mobileone_mm.testing.equivalence, '
                      'mobileone_mm.testing.weights, mobileone_mm.utils.numerics'):
        importlib.import_module('mobileone_mm.verify')


def test_module_that_left_the_package_names_its_new_place():
    with pytest.raises(ImportError, match=r'mobileone_mm.task_demo is gone: its code is in tools/demo.py'):
        importlib.import_module('mobileone_mm.task_demo')
