"""The deployment tests' checkpoints, made once per session (see :mod:`task_checkpoints`)."""
from types import SimpleNamespace

import pytest
import torch
from task_checkpoints import TASKS, small_config, task_checkpoint

from mobileone_mm.deploy.task_models import build_model


@pytest.fixture(scope='session', params=list(TASKS))
def trained(request, tmp_path_factory) -> SimpleNamespace:
    """A task's small config, a random checkpoint of it and a test image."""
    return task_checkpoint(request.param, small_config(request.param), tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope='session')
def classifier_checkpoint(tmp_path_factory) -> str:
    """A default-initialised MobileOne-S0 classifier: enough for the checks that refuse bad inputs."""
    checkpoint = str(tmp_path_factory.mktemp('s0') / 's0.pth')
    torch.save({'state_dict': build_model(small_config('classification')).state_dict(), 'meta': {}}, checkpoint)
    return checkpoint
