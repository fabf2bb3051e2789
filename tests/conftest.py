import os
import runpy
import sys
from pathlib import Path
from typing import Callable

import pytest
import torch

from mobileone_mm.testing.demo_data import generate_demo_data

ROOT = Path(__file__).resolve().parents[1]

# Random-init MobileOne in eval mode can produce denormals, which make CPU convs ~100x slower.
torch.set_flush_denormal(True)
# Under pytest-xdist the suite runs in one worker process per core: one thread each, so that two workers never
# share a core (oversubscribed OpenMP threads wait on each other). Subprocesses of the tests inherit it.
if 'PYTEST_XDIST_WORKER' in os.environ:
    os.environ['OMP_NUM_THREADS'] = '1'
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def demo_dir(tmp_path_factory) -> Path:
    """A folder holding a small copy of the demo data under ``data/demo`` (the demo configs read it from there)."""
    directory = tmp_path_factory.mktemp('demo')
    generate_demo_data(str(directory / 'data/demo'), scale=0.1)
    return directory


@pytest.fixture(scope='session')
def run_tool() -> Callable[..., None]:
    """Runs ``tools/<name>.py`` in this process, as from the command line: ``run_tool('test', CONFIG, ...)``."""

    def run(name: str, *args: str) -> None:
        argv, path = sys.argv, sys.path
        sys.argv = [f'tools/{name}.py', *args]
        sys.path = [str(ROOT / 'tools'), *path]  # python puts a script's folder first
        try:
            runpy.run_path(str(ROOT / 'tools' / f'{name}.py'), run_name='__main__')
        finally:
            sys.argv, sys.path = argv, path

    return run
