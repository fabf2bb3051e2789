"""Fused checkpoints (tools/reparameterize.py): exact, loadable into the fused form, refused when they do not fit."""
import os
from pathlib import Path

import pytest
import torch
from task_checkpoints import FLOAT64_TOLERANCE, IMAGE_SIZE, ROOT, TASKS, small_config

from mobileone_mm.deploy.export import deploy
from mobileone_mm.deploy.fuse_checkpoint import ReparameterizationError, fuse_checkpoint
from mobileone_mm.deploy.task_models import (FUSED_FORM_KEY, CheckpointMismatchError, build_model,
                                             load_checkpoint_strictly, load_model_config)


@pytest.mark.slow
def test_fused_checkpoint_is_exact_and_loads_into_the_deploy_form(trained):
    # float64: these random networks amplify float32 rounding to 2e-5 .. 1e-4 at their outputs, whichever form
    # computes them (a 1-epoch trained RetinaNet-S0 of the demo config: 2.7e-6); see the README's "Correctness".
    out = trained.directory / 'fused.pth'
    fused = fuse_checkpoint(trained.cfg, trained.checkpoint, str(out), image_size=IMAGE_SIZE, precision='float64')
    print(f'{trained.task}: {fused.num_blocks} blocks fused, relative error (float64) {fused.relative_error:.1e}')
    assert fused.num_blocks == 43
    assert fused.relative_error <= FLOAT64_TOLERANCE
    saved = load_checkpoint_strictly(build_model(load_model_config(trained.cfg, {FUSED_FORM_KEY: True})), str(out))
    assert set(saved) == {'state_dict', 'meta'}
    assert saved['meta']['reparameterized'] == dict(source=trained.checkpoint, relative_error=fused.relative_error,
                                                    precision='float64')
    assert {value.dtype for value in saved['state_dict'].values()} <= {torch.float32, torch.int64}
    assert not [name for name in os.listdir(trained.directory) if name.endswith('.tmp')]


def test_checkpoint_of_another_config_is_refused_naming_the_keys(classifier_checkpoint, tmp_path, capsys, run_tool):
    s4_config = str(ROOT / 'configs/mobileone_s4_8xb32_in1k.py')
    out = tmp_path / 'fused.pth'
    expected = (r"does not match the model of the config: missing keys \(\d+\): 'backbone\..*; "
                r"unexpected keys \(\d+\): "
                r"'backbone\.stage1\.0\.branch_conv_list\.1\..*; keys of the wrong shape \(\d+\): 'backbone\..* \(48, "
                r"3, 1, 1\) instead of \(64, 3, 1, 1\)")
    with pytest.raises(CheckpointMismatchError, match=expected):
        fuse_checkpoint(s4_config, classifier_checkpoint, str(out))
    with pytest.raises(CheckpointMismatchError, match=expected):
        deploy(str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'), s4_config, classifier_checkpoint,
               'unused.jpg', str(tmp_path / 'onnx'))
    with pytest.raises(SystemExit, match='error: checkpoint .* does not match'):
        run_tool('reparameterize', s4_config, classifier_checkpoint, str(out))
    assert os.listdir(tmp_path) == []  # neither the fused checkpoint nor the work dir


def test_fused_checkpoint_is_refused_by_the_training_form_with_a_hint(classifier_checkpoint, tmp_path):
    out = str(tmp_path / 'fused.pth')
    fuse_checkpoint(small_config('classification'), classifier_checkpoint, out, image_size=64, tolerance=1)
    with pytest.raises(CheckpointMismatchError, match=f'fused: build the model with {FUSED_FORM_KEY}=True'):
        load_checkpoint_strictly(build_model(small_config('classification')), out)
    with pytest.raises(ValueError, match='no MobileOne block in the training form'):
        fuse_checkpoint(small_config('classification'), out, str(tmp_path / 'again.pth'),
                        cfg_options={FUSED_FORM_KEY: True})


def test_missing_checkpoint_is_refused(tmp_path, run_tool):
    config = str(ROOT / TASKS['classification']['config'])
    missing = str(tmp_path / 'missing.pth')
    with pytest.raises(FileNotFoundError, match='missing.pth does not exist'):
        fuse_checkpoint(config, missing, str(tmp_path / 'fused.pth'))
    with pytest.raises(SystemExit, match='error: checkpoint .*missing.pth does not exist'):
        run_tool('deploy', str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'), config, missing,
                 'unused.jpg', '--work-dir', str(tmp_path / 'onnx'))
    assert not (tmp_path / 'fused.pth').exists()


def test_output_over_the_input_checkpoint_is_refused(classifier_checkpoint, run_tool):
    config = str(ROOT / TASKS['classification']['config'])
    before = Path(classifier_checkpoint).read_bytes()
    same_file = os.path.join(os.path.dirname(classifier_checkpoint), '.', os.path.basename(classifier_checkpoint))
    for out in (classifier_checkpoint, same_file):
        with pytest.raises(ValueError, match='refusing to overwrite the input checkpoint'):
            fuse_checkpoint(config, classifier_checkpoint, out)
    with pytest.raises(SystemExit, match='error: refusing'):
        run_tool('reparameterize', config, classifier_checkpoint, classifier_checkpoint)
    assert Path(classifier_checkpoint).read_bytes() == before


def test_outputs_beyond_the_tolerance_write_nothing(classifier_checkpoint, tmp_path):
    with pytest.raises(ReparameterizationError, match=r'differs from the training form by .*fused.pth not written'):
        fuse_checkpoint(small_config('classification'), classifier_checkpoint, str(tmp_path / 'fused.pth'),
                        image_size=64, precision='float32', tolerance=1e-12)
    assert os.listdir(tmp_path) == []
