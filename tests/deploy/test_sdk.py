"""mmdeploy's SDK (mmdeploy-runtime) on this project's exports: the predictions of PyTorch at the original size."""
import mmcv
import pytest

from mobileone_mm.deploy.sdk import SDKModel, check_sdk

# The test image at its size and at two others, one not square: the SDK resizes, and maps boxes and pixels back.
SIZES = [None, (160, 112), (200, 200)]


@pytest.fixture(scope='module')
def sdk_images(dynamic_export) -> list:
    """The export's test image at each of :data:`SIZES`."""
    trained = dynamic_export.trained
    images = [trained.image]
    for size in SIZES[1:]:
        images.append(str(trained.directory / f'image_{size[0]}x{size[1]}.jpg'))
        mmcv.imwrite(mmcv.imresize(mmcv.imread(trained.image), size), images[-1])
    return images


@pytest.mark.slow
def test_dump_info_writes_the_sdk_files_and_checks_the_sdk(dynamic_export):
    work_dir, result = dynamic_export.work_dir, dynamic_export.result
    assert sorted(path.name for path in work_dir.glob('*.json')) == ['deploy.json', 'detail.json', 'pipeline.json']
    assert result.sdk_agreement.passed, result.sdk_agreement.summary


@pytest.mark.slow
@pytest.mark.parametrize('image_index', range(len(SIZES)))
def test_sdk_reproduces_pytorch_at_the_original_size(dynamic_export, sdk_images, image_index):
    trained, images = dynamic_export.trained, sdk_images
    agreement = check_sdk(str(dynamic_export.work_dir), dynamic_export.deploy_cfg, trained.cfg, trained.checkpoint,
                          images[image_index])
    print(f'{trained.task}, {images[image_index]}: {agreement.summary}')
    assert agreement.passed


@pytest.mark.slow
def test_sdk_detections_keep_their_labels(dynamic_export):
    """mmdeploy-runtime's Detector gives every box the last box's label under numpy 2; SDKModel does not."""
    if dynamic_export.deploy_cfg.codebase_config.task != 'ObjectDetection':
        pytest.skip('detection only')
    image = mmcv.imread(dynamic_export.trained.image)
    labels = SDKModel(str(dynamic_export.work_dir), 'ObjectDetection')(image).pred_instances.labels
    assert len(labels.unique()) > 1
