"""Every user mistake a tool meets ends in one line, ``error: ...``, exit status 1, before anything is trained.

Each row is the command a user would type (run in this process by ``run_tool``);
``MOBILEONE_MM_TRACEBACK=1`` brings the traceback back.
"""
import os
import re
from pathlib import Path

import pytest
import torch

from mobileone_mm.deploy.task_models import FUSED_FORM_KEY, build_model, load_model_config
from mobileone_mm.engine.cli import TRACEBACK_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
CLASSIFIER = str(ROOT / 'configs/demo/mobileone_s0_demo.py')
RETINANET = str(ROOT / 'configs/demo/retinanet_mobileone_s0_demo.py')


def one_line_error(run_tool, *arguments: str) -> str:
    """The message a tool exits with; it must be one ``error:`` line and mean exit status 1."""
    with pytest.raises(SystemExit) as exit_info:
        run_tool(*arguments)
    message = exit_info.value.code
    assert isinstance(message, str) and message.startswith('error: ') and '\n' not in message, message
    return message


def saved(config: str, path: Path, training_state: bool = True, cfg_options=None) -> str:
    """A checkpoint of the model ``config`` builds, with the training state a runner saves or weights alone."""
    model = build_model(load_model_config(config, cfg_options))
    extra = dict(meta=dict(epoch=1, iter=1), message_hub={}) if training_state else dict(meta={})
    torch.save(dict(state_dict=model.state_dict(), **extra), path)
    return str(path)


@pytest.mark.parametrize('option, message', [
    ('foo', "--cfg-options 'foo' is not KEY=VALUE"),
    ('optim_wrapper.optimizer.lr=abc', "optim_wrapper.optimizer.lr='abc' must be a number > 0"),
    ('optim_wrapper.optimizer.lr=0', 'optim_wrapper.optimizer.lr=0 must be a number > 0'),
    ('train_cfg.max_epochs=abc', "train_cfg.max_epochs='abc' must be a positive int"),
    ('train_cfg.max_epochs=-1', 'train_cfg.max_epochs=-1 must be a positive int'),
    ('train_dataloader.batch_size=0', 'train_dataloader.batch_size=0 must be a positive int'),
    ('train_dataloader.batch_size=abc', "train_dataloader.batch_size='abc' must be a positive int"),
])
def test_a_bad_training_setting_is_named_before_anything_is_built(option, message, tmp_path, run_tool):
    error = one_line_error(run_tool, 'train', CLASSIFIER, '--work-dir', str(tmp_path / 'work_dir'),
                           '--cfg-options', option)
    assert message in error
    assert not (tmp_path / 'work_dir').exists()


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['train', 'test'])
@pytest.mark.parametrize('dataset, message', [
    ('empty_annotations', r"the (train|test) dataset \(ImageNet, data_root='.*empty_annotations', "
                          r"ann_file='empty.txt'\) has no samples: check its paths and annotations"),
    ('empty_class_folders', r"the (train|test) dataset .* cannot be read: Found 0 files in subfolders"),
    ('no_class_folders', r"The number of subfolders \(0\) doesn't match the number of specified classes \(3\)"),
    ('missing', r"No such file or directory: '.*missing/(train|val)'"),
])
def test_an_empty_or_missing_dataset_is_named(tool, dataset, message, tmp_path, run_tool):
    for split in ('train', 'val'):
        (tmp_path / 'no_class_folders' / split).mkdir(parents=True)
        for name in ('circle', 'square', 'triangle'):
            (tmp_path / 'empty_class_folders' / split / name).mkdir(parents=True)
    (tmp_path / 'empty_annotations').mkdir()
    (tmp_path / 'empty_annotations/empty.txt').write_text('')
    split = 'train' if tool == 'train' else 'test'
    checkpoint = [] if tool == 'train' else [saved(CLASSIFIER, tmp_path / 'model.pth')]
    options = [f'{split}_dataloader.dataset.data_root={tmp_path / dataset}']
    if dataset == 'empty_annotations':
        options.append(f'{split}_dataloader.dataset.ann_file=empty.txt')
    error = one_line_error(run_tool, tool, CLASSIFIER, *checkpoint, '--work-dir', str(tmp_path / 'work_dir'),
                           '--cfg-options', *options)
    assert re.search(message, error), error


def test_a_config_with_a_syntax_error_a_folder_and_a_file_as_work_dir(tmp_path, run_tool):
    (tmp_path / 'broken.py').write_text("_base_ = '../mobileone_s0_8xb32_in1k.py'\nmodel = dict(\n")
    error = one_line_error(run_tool, 'train', str(tmp_path / 'broken.py'))
    assert 'broken.py has a syntax error' in error and '(line 2)' in error
    assert f'config {tmp_path} is a folder; give a config file' in one_line_error(run_tool, 'train', str(tmp_path))
    (tmp_path / 'a_file').write_text('')
    assert f'--work-dir {tmp_path / "a_file"} is a file; give a folder' in one_line_error(
        run_tool, 'train', CLASSIFIER, '--work-dir', str(tmp_path / 'a_file'))


@pytest.mark.parametrize('tool', ['test', 'train'])
def test_a_folder_given_as_the_checkpoint_is_called_a_folder(tool, tmp_path, run_tool):
    arguments = [tmp_path] if tool == 'test' else ['--resume', tmp_path]
    error = one_line_error(run_tool, tool, CLASSIFIER, *map(str, arguments), '--work-dir', str(tmp_path / 'work'))
    assert f'checkpoint {tmp_path} is a folder; give a checkpoint file (.pth)' in error


@pytest.mark.parametrize('kind, message', [
    ('fused', r'holds no training state \(message_hub missing\): --resume takes a checkpoint that training saved'),
    ('another model', r"does not match the model of the config: missing keys \(2\): 'head.fc.weight'"),
    ('another head size', r"keys of the wrong shape \(2\): 'head.fc.weight \(5, 1024\) instead of \(3, 1024\)'"),
])
def test_resume_refuses_a_checkpoint_it_cannot_continue_and_writes_nothing(kind, message, tmp_path, run_tool):
    path = tmp_path / 'checkpoint.pth'
    if kind == 'fused':
        saved(CLASSIFIER, path, training_state=False, cfg_options={FUSED_FORM_KEY: True})
    elif kind == 'another model':
        saved(RETINANET, path)
    else:
        saved(CLASSIFIER, path, cfg_options={'model.head.num_classes': 5})
    error = one_line_error(run_tool, 'train', CLASSIFIER, '--resume', str(path), '--work-dir', str(tmp_path / 'work'))
    assert re.search(message, error), error
    assert not (tmp_path / 'work').exists()


class RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker, ))


def test_a_pickle_that_would_run_code_is_refused_in_one_line(tmp_path, run_tool):
    torch.save({'state_dict': {}, 'payload': RunsCode(str(tmp_path / 'code-ran'))}, tmp_path / 'evil.pth')
    error = one_line_error(run_tool, 'test', CLASSIFIER, str(tmp_path / 'evil.pth'), '--work-dir', str(tmp_path / 'w'))
    assert 'refused to load checkpoint' in error and 'allow-list' in error
    assert not (tmp_path / 'code-ran').exists()


def test_the_traceback_comes_back_on_request(tmp_path, run_tool, monkeypatch):
    monkeypatch.setenv(TRACEBACK_VARIABLE, '1')
    with pytest.raises(ValueError, match="train_cfg.max_epochs='abc' must be a positive int"):
        run_tool('train', CLASSIFIER, '--work-dir', str(tmp_path / 'w'), '--cfg-options', 'train_cfg.max_epochs=abc')
