"""The package layout: layers by path, each importing only the layers below it, and no import circles."""
import ast
import functools
from pathlib import Path
from typing import Dict, Set

import pytest

import mobileone_mm

PACKAGE = Path(mobileone_mm.__file__).parent
MODULES = sorted(PACKAGE.rglob('*.py'))
# The layers of the package, lowest first: a module imports its own layer's modules and those of lower layers only.
LAYERS = {'utils': 0, 'registry': 0, 'models': 1, 'compat': 1, 'testing': 2, 'engine': 2, 'convert': 3, 'deploy': 3,
          'benchmark': 4, '__init__': 5}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imported_modules(path: Path) -> Set[str]:
    """Every module ``path`` imports, anywhere in it (inside functions too), relative imports made absolute."""
    package = module_name(path).split('.') if path.name == '__init__.py' else module_name(path).split('.')[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = '.'.join(base + (node.module.split('.') if node.module else []))
            # `from . import x` and `from .pkg import submodule` import submodules as well
            names |= {module} | {f'{module}.{alias.name}' for alias in node.names}
    return names


@functools.lru_cache(maxsize=None)  # parsed once, read by every module's test
def package_imports() -> Dict[str, Set[str]]:
    """Each module of the package and the package's modules it imports."""
    modules = {module_name(path): path for path in MODULES}
    return {name: {imported for imported in imported_modules(path) if imported in modules and imported != name}
            for name, path in modules.items()}


def layer(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else '__init__'


@pytest.mark.parametrize('path', MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_library_never_imports_tools_or_tests(path):
    assert not {name for name in imported_modules(path) if name.split('.')[0] in ('tools', 'tests', 'conftest')}


@pytest.mark.parametrize('path', MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_a_module_imports_only_its_own_and_lower_layers(path):
    name = module_name(path)
    above = {imported for imported in package_imports()[name]
             if layer(imported) != layer(name) and LAYERS[layer(imported)] >= LAYERS[layer(name)]}
    assert not above, f'{name} ({layer(name)}) imports {sorted(above)} of a layer not below its own'


def test_every_package_of_the_library_has_a_layer():
    assert {layer(module_name(path)) for path in MODULES} == set(LAYERS)


def test_no_two_modules_import_each_other_even_through_others():
    graph = package_imports()
    for start in graph:
        seen, stack = set(), list(graph[start])
        while stack:
            module = stack.pop()
            assert module != start, f'{start} imports itself through {sorted(seen)}'
            if module not in seen:
                seen.add(module)
                stack.extend(graph[module])
