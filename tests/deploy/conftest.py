"""The deployment tests' checkpoints and exports, made once per session (see :mod:`task_checkpoints`)."""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from task_checkpoints import ROOT, TASKS, small_config, task_checkpoint, with_opencv_resizing

from mobileone_mm.deploy.export import deploy
from mobileone_mm.deploy.task_models import build_model


@pytest.fixture(scope='session', params=[pytest.param(task, marks=pytest.mark.xdist_group(f'trained-{task}'))
                                          for task in TASKS])
def trained(request, tmp_path_factory) -> SimpleNamespace:
    """A task's small config, a random checkpoint of it and a test image.

    The tests of one task run on one pytest-xdist worker (``--dist loadgroup``),
    which builds the task's checkpoint and :func:`dynamic_export` once.
    """
    return task_checkpoint(request.param, small_config(request.param), tmp_path_factory.mktemp(request.param))


@pytest.fixture(scope='session')
def dynamic_export(trained) -> SimpleNamespace:
    """The task's checkpoint through ``deploy`` with the dynamic deploy config and the SDK's files (``--dump-info``).

    The ONNX Runtime test of the dynamic config and the SDK tests read it.
    The config resizes with OpenCV where it resizes with Pillow
    (:func:`with_opencv_resizing`), as the SDK does.
    """
    work_dir = trained.directory / 'onnx_dynamic'
    deploy_cfg = Config.fromfile(str(ROOT / 'configs/deploy' / TASKS[trained.task]['dynamic']))
    trained = copy.copy(trained)
    trained.cfg = with_opencv_resizing(trained.cfg)
    result = deploy(deploy_cfg, trained.cfg, trained.checkpoint, trained.image, str(work_dir), dump_info=True)
    return SimpleNamespace(trained=trained, deploy_cfg=deploy_cfg, work_dir=work_dir, result=result)


@pytest.fixture(scope='session')
def classifier_checkpoint(tmp_path_factory) -> str:
    """A default-initialised MobileOne-S0 classifier: enough for the checks that refuse bad inputs."""
    checkpoint = str(tmp_path_factory.mktemp('s0') / 's0.pth')
    torch.save({'state_dict': build_model(small_config('classification')).state_dict(), 'meta': {}}, checkpoint)
    return checkpoint
