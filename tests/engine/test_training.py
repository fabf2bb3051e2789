"""Training and testing through the tools on the embedded demo data: loss, metrics, resume, torchrun.

The demo data is written once per session, small, into a temporary folder
that the tests run in (``demo_dir`` of tests/conftest.py): the demo configs
read ``data/demo/...`` relative to the working directory.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import CheckpointLoader, find_latest_checkpoint

from mobileone_mm.deploy.task_models import FUSED_FORM_KEY, build_model, load_model_config
from mobileone_mm.compat.weights_only_checkpoint import CheckpointFileError
from mobileone_mm.engine.runner import build_runner, checkpoint_to_resume, configure_training, load_config

ROOT = Path(__file__).resolve().parents[2]
DEMO_CONFIGS = sorted(str(path) for path in (ROOT / 'configs/demo').glob('*.py'))
MAX_LEARNING_RATE = 0.01
MOBILEONE_INIT = [dict(type='Kaiming', layer=['Conv2d']), dict(type='Constant', val=1, layer=['_BatchNorm'])]
CLASSIFIER = str(ROOT / 'configs/demo/mobileone_s0_demo.py')
METRIC_OF_CONFIG = {
    'retinanet_mobileone_s0_demo.py': 'coco/bbox_mAP',
    'ssdlite_mobileone_s0_demo.py': 'coco/bbox_mAP',
    'mobileone_s0_demo.py': 'accuracy/top1',
    'deeplabv3_mobileone_s1_d8_voc12aug_demo.py': 'mIoU',
    'deeplabv3_mobileone_s1_d8_ade20k_demo.py': 'mIoU',
}
# Images of the fit-a-batch test's batch: enough for the classifier's batch norms (with 2 its loss after 20 steps
# ranged from 0.4x to 1.3x of the first over four seeds), the fewest for the dense tasks, whose images hold many
# targets each; RetinaNet's 8 took 45 s, 2 take 16 s.
FIT_BATCH_SIZE = {'mmpretrain': 8, 'mmdet': 2, 'mmseg': 2}
# Short runs of the classifier: a checkpoint every epoch, no evaluation on the way.
SHORT_CLASSIFIER_RUN = {'randomness.seed': 0, 'train_cfg.val_interval': 100,
                        'default_hooks.checkpoint.interval': 1, 'default_hooks.logger.interval': 1}


def load_offline(config: str, work_dir: str) -> Config:
    """The config, with the backbone's own initialisation where it names a checkpoint that ``make demo`` writes."""
    cfg = load_config(config, work_dir=work_dir)
    init_cfg = cfg.model.backbone.get('init_cfg')
    if isinstance(init_cfg, dict) and init_cfg.type == 'Pretrained':
        cfg.model.backbone.init_cfg = MOBILEONE_INIT
    return cfg


@pytest.fixture
def in_demo_dir(demo_dir, monkeypatch) -> Path:
    monkeypatch.chdir(demo_dir)
    return demo_dir


@pytest.mark.slow
@pytest.mark.parametrize('config', DEMO_CONFIGS, ids=lambda path: Path(path).stem)
def test_demo_config_fits_a_batch_of_its_data(config, in_demo_dir):
    """Optimizer steps of the config's own model, optimizer and train pipeline on one batch lower its loss.

    The learning rate is the config's, at most 0.01: the configs reach theirs after a warm-up, and the
    classifier's (0.05 for 32 images) throws a single batch about. Even at 0.01 the loss swings from step to
    step around a falling trend, and where a step lands differs between CPUs: the mean of the last five of 20
    steps is what falls. The batch is as small as that allows (:data:`FIT_BATCH_SIZE`); the mean of the last five
    over seeds 0-5 (classifier) and 0-3: classifier 0.33x-0.72x of the first loss, RetinaNet 0.84x-0.87x, SSDLite
    0.56x-0.74x, DeepLabV3 0.36x-0.50x (VOC) and 0.56x-0.81x (ADE20K).
    """
    cfg = load_offline(config, str(in_demo_dir / 'work_dirs' / Path(config).stem))
    cfg.randomness = dict(seed=0)
    cfg.train_dataloader.batch_size = FIT_BATCH_SIZE[cfg.default_scope]
    runner = build_runner(cfg)
    runner.model.init_weights()
    optim_wrapper = runner.build_optim_wrapper(cfg.optim_wrapper)
    for group in optim_wrapper.param_groups:
        group['lr'] = min(group['lr'], MAX_LEARNING_RATE)
    batch = next(iter(runner.build_dataloader(cfg.train_dataloader)))
    runner.model.train()
    losses = torch.tensor([float(runner.model.train_step(batch, optim_wrapper)['loss']) for _ in range(20)])
    print(f'{Path(config).stem}: {", ".join(f"{loss:.3f}" for loss in losses)}')
    assert all(torch.isfinite(losses))
    assert losses[-5:].mean() < 0.95 * losses[0]


def train_classifier(work_dir: str, max_epochs: int, resume: bool = False) -> dict:
    """Trains the demo classifier as ``tools/train.py [--resume]`` does and loads its latest checkpoint.

    The train pipeline is the test pipeline: random augmentation draws from
    the data workers' generators, which no checkpoint holds.
    """
    cfg = load_config(CLASSIFIER, dict(SHORT_CLASSIFIER_RUN, **{'train_cfg.max_epochs': max_epochs}),
                      work_dir=work_dir)
    cfg.train_dataloader.dataset.pipeline = cfg.test_pipeline
    build_runner(configure_training(cfg, resume='auto' if resume else None)).train()
    return CheckpointLoader.load_checkpoint(find_latest_checkpoint(work_dir), map_location='cpu')


@pytest.fixture(scope='session')
def two_epochs(demo_dir) -> Path:
    """The demo classifier trained for two epochs straight, a checkpoint after each: a read-only work dir.

    Tests that train on from it copy it (:func:`copied_work_dir`).
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(demo_dir)  # the demo configs read data/demo/...
        work_dir = demo_dir / 'two_epochs'
        train_classifier(str(work_dir), max_epochs=2)
    return work_dir


def copied_work_dir(work_dir: Path, destination: Path) -> Path:
    """A copy of ``work_dir`` whose ``last_checkpoint`` names the copy's own latest checkpoint."""
    shutil.copytree(work_dir, destination)
    last = destination / 'last_checkpoint'
    last.write_text(str(destination / Path(last.read_text().strip()).name))
    return destination


@pytest.mark.slow
@pytest.mark.xdist_group('two_epochs')  # one pytest-xdist worker trains the fixture once
def test_resumed_training_ends_where_uninterrupted_training_does(two_epochs, in_demo_dir):
    """Two epochs straight equal one epoch, then a resumed second epoch: iteration count and weights."""
    straight = CheckpointLoader.load_checkpoint(str(two_epochs / 'epoch_2.pth'), map_location='cpu')
    first_epoch = train_classifier(str(in_demo_dir / 'interrupted'), max_epochs=1)
    resumed = train_classifier(str(in_demo_dir / 'interrupted'), max_epochs=2, resume=True)
    assert first_epoch['meta']['epoch'] == 1
    assert (resumed['meta']['epoch'], resumed['meta']['iter']) == (straight['meta']['epoch'], straight['meta']['iter'])
    assert resumed['meta']['iter'] == 2 * first_epoch['meta']['iter']
    for weights in ('state_dict', 'ema_state_dict'):  # the EMA's and the optimizer's
        for key, value in straight[weights].items():
            assert torch.equal(resumed[weights][key], value), (weights, key)
    weight = 'backbone.stage0.branch_conv_list.0.conv.weight'
    assert not torch.equal(first_epoch['state_dict'][weight], straight['state_dict'][weight])


@pytest.mark.slow
@pytest.mark.parametrize('config', DEMO_CONFIGS, ids=lambda path: Path(path).stem)
def test_test_tool_reports_the_metric_and_dumps_predictions(config, in_demo_dir, capsys, run_tool):
    work_dir = in_demo_dir / 'test_tool' / Path(config).stem
    cfg = load_offline(config, str(work_dir))
    runner = build_runner(cfg)
    runner.model.init_weights()
    checkpoint = str(work_dir / 'init.pth')
    torch.save({'state_dict': runner.model.state_dict(), 'meta': {}}, checkpoint)
    predictions = str(work_dir / 'predictions.pkl')
    # an untrained RetinaNet scores every box below the threshold, and COCO's evaluation of no box reports nothing
    options = ['--cfg-options', 'model.test_cfg.score_thr=0'] if 'retinanet' in config else []
    run_tool('test', config, checkpoint, '--work-dir', str(work_dir), '--out', predictions, *options)
    console = capsys.readouterr().out
    metrics = json.loads(console.strip().splitlines()[-1])
    assert 0 <= metrics[METRIC_OF_CONFIG[Path(config).name]] <= 100
    assert os.path.getsize(predictions) > 0
    # the progress and the result on the console; mmengine's environment, config and hook dumps in the log file
    log = max(work_dir.glob('*/*.log')).read_text()
    for dump in ('System environment:', 'Config:', 'Hooks will be executed'):
        assert dump in log and dump not in console
    assert len(console.splitlines()) < 60, console  # 353 with the dumps; pycocotools prints its own lines


@pytest.mark.slow
def test_two_process_torchrun_trains_in_sync(in_demo_dir):
    """torchrun, 2 CPU processes, gloo: both ranks end with the same trained weights."""
    work_dir = in_demo_dir / 'distributed'
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', '29517',
               str(ROOT / 'tests/engine/distributed_training.py'), CLASSIFIER, str(work_dir)]
    environment = dict(os.environ, OMP_NUM_THREADS='1')
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0, rank1 = (torch.load(work_dir / f'rank{rank}.pth') for rank in (0, 1))
    assert rank0['iter'] == rank1['iter'] > 0
    assert rank0['parameters'].keys() == rank1['parameters'].keys()
    for name, value in rank0['parameters'].items():
        assert torch.equal(rank1['parameters'][name], value), name
    weight = 'backbone.stage0.branch_conv_list.0.conv.weight'
    assert not torch.equal(rank0['initial_parameters'][weight], rank0['parameters'][weight])


def saved_model(config: str, path: Path, cfg_options: Optional[dict] = None) -> str:
    """A checkpoint of the model ``config`` builds (its own initialisation), as a trained one would be saved."""
    model = build_model(load_model_config(config, cfg_options))
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


@pytest.mark.parametrize('checkpoint_config, cfg_options, message', [
    ('configs/demo/deeplabv3_mobileone_s1_d8_voc12aug_demo.py', None, 'missing keys'),
    ('configs/demo/retinanet_mobileone_s0_demo.py', None, r"unexpected keys \(36\): 'neck.lateral_convs"),
    ('configs/demo/mobileone_s0_demo.py', {FUSED_FORM_KEY: True},
     f'the checkpoint is fused: build the model with {FUSED_FORM_KEY}=True'),
])
def test_test_tool_refuses_a_checkpoint_that_does_not_fit_the_config(checkpoint_config, cfg_options, message,
                                                                    in_demo_dir, run_tool):
    checkpoint = saved_model(str(ROOT / checkpoint_config), in_demo_dir / 'other.pth', cfg_options)
    with pytest.raises(SystemExit, match=f'error: checkpoint .*other.pth does not match the model of the config: '
                       f'.*{message}'):
        run_tool('test', CLASSIFIER, checkpoint, '--work-dir', str(in_demo_dir / 'refused'))


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_tools_report_a_bad_cfg_options_value_in_one_line(tool, in_demo_dir, run_tool):
    checkpoint = [] if tool == 'train' else [saved_model(CLASSIFIER, in_demo_dir / 'classifier.pth')]
    with pytest.raises(SystemExit, match=r"^error: .*arch 's9' is not one of \['s0', 's1', 's2', 's3', 's4'\]"):
        run_tool(tool, CLASSIFIER, *checkpoint, '--work-dir', str(in_demo_dir / 'bad_option'),
                 '--cfg-options', 'model.backbone.arch=s9')


# Run as a script by the kill test: tools/train.py, killed (SIGKILL) halfway through writing the epoch-2 checkpoint,
# wherever its bytes go to disk: torch.save into a file, or mmengine's LocalBackend.put of the serialized bytes.
KILLED_DURING_SAVE = '''
import io, os, runpy, signal, sys
import torch
from mmengine.fileio.backends.local_backend import LocalBackend

save, put = torch.save, LocalBackend.put


def die_halfway(file, data):
    file.write(data[:len(data) // 2])
    file.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def on_disk(file):
    try:
        return file.fileno() >= 0
    except (AttributeError, OSError):  # io.BytesIO: io.UnsupportedOperation
        return False


def killing_save(obj, file, *args, **kwargs):
    if on_disk(file) and isinstance(obj, dict) and obj.get('meta', {}).get('epoch') == 2:
        buffer = io.BytesIO()
        save(obj, buffer, *args, **kwargs)
        die_halfway(file, buffer.getvalue())
    return save(obj, file, *args, **kwargs)


def killing_put(self, data, path):
    if str(path).endswith('epoch_2.pth'):
        with open(path, 'wb') as file:
            die_halfway(file, data)
    return put(self, data, path)


torch.save, LocalBackend.put = killing_save, killing_put
sys.argv = sys.argv[1:]  # tools/train.py and its arguments
sys.path.insert(0, os.path.dirname(sys.argv[0]))  # as python does for a script
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.mark.slow
@pytest.mark.xdist_group('two_epochs')
def test_a_kill_during_a_checkpoint_save_with_one_kept_leaves_the_previous_one_and_training_resumes(two_epochs,
                                                                                                    in_demo_dir):
    """max_keep_ckpts=1: mmengine removed epoch_1.pth before it wrote epoch_2.pth, so a kill then left nothing."""
    work_dir = copied_work_dir(two_epochs, in_demo_dir / 'killed')
    (work_dir / 'epoch_2.pth').unlink()  # the run stood after epoch 1
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    script = in_demo_dir / 'killed_during_save.py'
    script.write_text(KILLED_DURING_SAVE)
    run = dict(SHORT_CLASSIFIER_RUN, **{'train_cfg.max_epochs': 2, 'default_hooks.checkpoint.max_keep_ckpts': 1})
    command = [sys.executable, str(script), str(ROOT / 'tools/train.py'), CLASSIFIER, '--work-dir', str(work_dir),
               '--resume', str(work_dir / 'epoch_1.pth'), '--cfg-options', *(f'{k}={v}' for k, v in run.items())]
    completed = subprocess.run(command, cwd=in_demo_dir, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == -9, completed.stderr[-3000:]  # killed while saving epoch_2.pth
    assert (work_dir / 'last_checkpoint').read_text().strip() == str(work_dir / 'epoch_1.pth')
    assert CheckpointLoader.load_checkpoint(str(work_dir / 'epoch_1.pth'))['meta']['epoch'] == 1
    assert list(work_dir.glob('.epoch_2.pth.*.tmp'))  # the killed save's half
    assert train_classifier(str(work_dir), max_epochs=3, resume=True)['meta']['epoch'] == 3
    assert not list(work_dir.glob('.*.tmp'))  # removed by the next save


def write_checkpoint(path: Path, epoch: int) -> None:
    torch.save({'state_dict': {}, 'meta': {'epoch': epoch}}, path)


def test_resume_skips_a_checkpoint_that_does_not_load_naming_it(tmp_path):
    write_checkpoint(tmp_path / 'epoch_1.pth', 1)
    (tmp_path / 'epoch_2.pth').write_bytes(b'')  # a save killed by mmengine's own, in-place writer
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_2.pth'))
    assert checkpoint_to_resume(str(tmp_path)) == str(tmp_path / 'epoch_1.pth')
    (tmp_path / 'epoch_1.pth').write_bytes(b'PK\x03\x04 cut')
    with pytest.raises(CheckpointFileError, match=r'no checkpoint in .* loads, so there is nothing to resume from: '
                       r'checkpoint .*epoch_2.pth is empty .*epoch_1.pth is'):
        checkpoint_to_resume(str(tmp_path))


def test_resume_without_last_checkpoint_takes_the_newest_that_loads_and_none_in_an_empty_work_dir(tmp_path):
    assert checkpoint_to_resume(str(tmp_path)) is None
    for epoch in (1, 2, 10):
        write_checkpoint(tmp_path / f'epoch_{epoch}.pth', epoch)
    assert checkpoint_to_resume(str(tmp_path)) == str(tmp_path / 'epoch_10.pth')


def test_resume_in_a_copied_work_dir_takes_its_own_checkpoint(tmp_path):
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    for work_dir in (original, copy):
        work_dir.mkdir()
        write_checkpoint(work_dir / 'epoch_1.pth', 1)
        (work_dir / 'last_checkpoint').write_text(str(original / 'epoch_1.pth'))  # as mmengine wrote it
    assert checkpoint_to_resume(str(copy)) == str(copy / 'epoch_1.pth')


def test_resume_takes_the_checkpoint_last_checkpoint_names_whatever_its_file_name(tmp_path):
    write_checkpoint(tmp_path / 'epoch_3.pth', 3)
    write_checkpoint(tmp_path / 'model_step_4.pth', 4)  # CheckpointHook(filename_tmpl='model_step_{}.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'model_step_4.pth'))
    assert checkpoint_to_resume(str(tmp_path)) == str(tmp_path / 'model_step_4.pth')
