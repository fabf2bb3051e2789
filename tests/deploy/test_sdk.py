"""mmdeploy's SDK (mmdeploy-runtime) on this project's exports: the predictions of PyTorch at the original size."""
import copy

import mmcv
import pytest
from mmengine.config import Config
from task_checkpoints import ROOT, TASKS

from mobileone_mm.deploy.export import deploy
from mobileone_mm.deploy.sdk import SDKModel, check_sdk

# The test image at its size and at two others, one not square: the SDK resizes, and maps boxes and pixels back.
SIZES = [None, (160, 112), (200, 200)]


def with_opencv_resizing(cfg: Config) -> Config:
    """The config, resizing with OpenCV where it resizes with Pillow, as the SDK always does.

    mmpretrain's ImageNet pipeline resizes with Pillow, which the SDK cannot:
    the pixels differ, and the near-uniform scores of a random classifier
    change their top-1 with them.
    """
    cfg = copy.deepcopy(cfg)
    for transform in cfg.test_pipeline:
        if transform.get('backend') == 'pillow':
            transform['backend'] = 'cv2'
    return cfg


@pytest.fixture(scope='module')
def sdk_export(trained):
    """The task's checkpoint exported with the SDK's files (``tools/deploy.py --dump-info``), and its test images."""
    work_dir = trained.directory / 'sdk'
    deploy_cfg = Config.fromfile(str(ROOT / 'configs/deploy' / TASKS[trained.task]['dynamic']))
    trained = copy.copy(trained)
    trained.cfg = with_opencv_resizing(trained.cfg)
    result = deploy(deploy_cfg, trained.cfg, trained.checkpoint, trained.image, str(work_dir), dump_info=True)
    images = [trained.image]
    for size in SIZES[1:]:
        images.append(str(trained.directory / f'image_{size[0]}x{size[1]}.jpg'))
        mmcv.imwrite(mmcv.imresize(mmcv.imread(trained.image), size), images[-1])
    return trained, deploy_cfg, work_dir, result, images


@pytest.mark.slow
def test_dump_info_writes_the_sdk_files_and_checks_the_sdk(sdk_export):
    _, _, work_dir, result, _ = sdk_export
    assert sorted(path.name for path in work_dir.glob('*.json')) == ['deploy.json', 'detail.json', 'pipeline.json']
    assert result.sdk_agreement.passed, result.sdk_agreement.summary


@pytest.mark.slow
@pytest.mark.parametrize('image_index', range(len(SIZES)))
def test_sdk_reproduces_pytorch_at_the_original_size(sdk_export, image_index):
    trained, deploy_cfg, work_dir, _, images = sdk_export
    agreement = check_sdk(str(work_dir), deploy_cfg, trained.cfg, trained.checkpoint, images[image_index])
    print(f'{trained.task}, {images[image_index]}: {agreement.summary}')
    assert agreement.passed


@pytest.mark.slow
def test_sdk_detections_keep_their_labels(sdk_export):
    """mmdeploy-runtime's Detector gives every box the last box's label under numpy 2; SDKModel does not."""
    trained, deploy_cfg, work_dir, result, images = sdk_export
    if deploy_cfg.codebase_config.task != 'ObjectDetection':
        pytest.skip('detection only')
    labels = SDKModel(str(work_dir), 'ObjectDetection')(mmcv.imread(images[0])).pred_instances.labels
    assert len(labels.unique()) > 1
