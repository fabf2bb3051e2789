"""The deployment tests' checkpoints, made once per session (see :mod:`task_checkpoints`)."""
import copy
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from task_checkpoints import (BACKBONE_INIT, IMAGE_SIZE, TASKS, aim_retinanet_detections_, aim_ssd_detections_,
                              calibrate_batch_norm_, small_config)

from mobileone_mm.deploy.task_models import build_model, example_inputs
from mobileone_mm.testing.demo_data import make_scene


@pytest.fixture(scope='session', params=list(TASKS))
def trained(request, tmp_path_factory) -> SimpleNamespace:
    """A task's small config, a random checkpoint of it and a test image."""
    task = request.param
    directory = tmp_path_factory.mktemp(task)
    image = str(directory / 'image.jpg')
    Image.fromarray(make_scene(np.random.default_rng(0), IMAGE_SIZE, num_objects=3).image).save(image, quality=95)
    cfg = small_config(task)
    initialised = copy.deepcopy(cfg)
    initialised.model.backbone.init_cfg = BACKBONE_INIT
    model = build_model(initialised)
    torch.manual_seed(0)
    model.init_weights()
    calibrate_batch_norm_(model, example_inputs(model, IMAGE_SIZE, num_images=16, seed=1))
    if task == 'detection':
        aim_retinanet_detections_(model, image)
    if task == 'ssdlite':
        aim_ssd_detections_(model, image)
    checkpoint = str(directory / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return SimpleNamespace(task=task, cfg=cfg, checkpoint=checkpoint, image=image, directory=directory)


@pytest.fixture(scope='session')
def classifier_checkpoint(tmp_path_factory) -> str:
    """A default-initialised MobileOne-S0 classifier: enough for the checks that refuse bad inputs."""
    checkpoint = str(tmp_path_factory.mktemp('s0') / 's0.pth')
    torch.save({'state_dict': build_model(small_config('classification')).state_dict(), 'meta': {}}, checkpoint)
    return checkpoint
