"""The declared minimum versions: checked at import, and the same in pyproject.toml and what the install pins."""
import re
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from mobileone_mm.utils.versions import MINIMUM_VERSIONS, check_stack_versions

ROOT = Path(__file__).parents[1]


def declared_requirements() -> dict:
    """pyproject.toml's dependencies and optional dependencies, by distribution name."""
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    lines = [*project['dependencies'], *(line for extra in project['optional-dependencies'].values() for line in extra)]
    return {Requirement(line).name: Requirement(line) for line in lines}


def installed_pins() -> dict:
    """The exact versions the install script installs: its requirement files' ``==`` pins and its own variables."""
    pins = {}
    for path in [ROOT / 'requirements.txt', *sorted((ROOT / 'requirements').glob('*.txt'))]:
        for line in path.read_text().splitlines():
            line = line.split('#')[0].strip()
            if line and not line.startswith('-r') and '==' in line:
                requirement = Requirement(line)
                pins[requirement.name] = next(iter(requirement.specifier)).version
    script = (ROOT / 'tools/install_env.sh').read_text()
    for name in ('mmcv', 'mmdeploy'):
        pins[name] = re.search(rf'^{name.upper()}_VERSION=(\S+)$', script, re.MULTILINE).group(1)
    return pins


def test_pyproject_declares_the_minimum_versions_checked_at_import():
    declared = declared_requirements()
    for distribution, (oldest, _) in MINIMUM_VERSIONS.items():
        assert f'>={oldest}' in str(declared[distribution].specifier), distribution


def test_every_version_the_install_pins_is_one_pyproject_allows():
    declared, pins = declared_requirements(), installed_pins()
    checked = [name for name in pins if name in declared]
    assert {'torch', 'mmengine', 'mmcv', 'mmpretrain', 'mmdet', 'mmsegmentation'} <= set(checked)
    for name in checked:
        assert declared[name].specifier.contains(pins[name], prereleases=True), (name, pins[name])


def test_python_requirement_allows_the_installed_python():
    requires = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['requires-python']
    assert SpecifierSet(requires).contains(f'{sys.version_info.major}.{sys.version_info.minor}')


@pytest.mark.parametrize('distribution', list(MINIMUM_VERSIONS))
def test_an_older_version_is_refused_at_import_naming_what_needs_it(distribution):
    installed = {name: '99.0' for name in MINIMUM_VERSIONS}
    installed[distribution] = '0.1.2'
    oldest, reason = MINIMUM_VERSIONS[distribution]
    with pytest.raises(ImportError, match=re.escape(f'mobileone_mm needs {distribution} >= {oldest} ({reason}), '
                                                    f'found 0.1.2')):
        check_stack_versions(installed.__getitem__)


def test_local_version_labels_and_the_pinned_stack_pass():
    check_stack_versions({'torch': '2.14.1+cu130', 'numpy': '2.4.6', 'mmengine': '0.10.7', 'mmcv': '2.1.0'}.get)
    check_stack_versions()
