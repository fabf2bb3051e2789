import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from torch.utils.data import Dataset

from mobileone_mm.compat.weights_only_checkpoint import CheckpointFileError, UnsafeCheckpointError
from mobileone_mm.convert import load_checkpoint_file

ROOT = Path(__file__).resolve().parents[2]


class RunsCode:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker, )


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels, mode='loss'):
        loss = ((self.linear(inputs) - labels)**2).mean()
        return dict(loss=loss) if mode == 'loss' else [loss]


class ToyDataset(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.full((2, ), float(index)), labels=torch.tensor([1.0]))


def train_toy_runner(work_dir):
    runner = Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyDataset(), sampler=dict(type='DefaultSampler', shuffle=False),
                              batch_size=4, collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
        default_scope='mmengine',
        experiment_name='toy')
    runner.train()
    return work_dir / 'epoch_1.pth'


def test_runner_checkpoint_loads_weights_only_through_every_mmengine_path(tmp_path):
    checkpoint_path = train_toy_runner(tmp_path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(checkpoint_path)  # torch's default: the globals are not allowed process-wide
    checkpoint = CheckpointLoader.load_checkpoint(str(checkpoint_path))
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(checkpoint)
    model = ToyModel()
    load_checkpoint(model, str(checkpoint_path))
    torch.testing.assert_close(model.state_dict(), checkpoint['state_dict'])


def test_a_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / 'code-ran'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': RunsCode(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match='refused to load checkpoint .*evil.pth.*allow-list'):
        load_checkpoint(ToyModel(), str(path))
    assert not marker.exists()


def write_bad_file(kind: str, path) -> str:
    """A file that is given as a checkpoint but is none: empty, truncated, random bytes or text."""
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        torch.save({'state_dict': {'weight': torch.zeros(10_000)}}, path)
        path.write_bytes(path.read_bytes()[:20_000])
    elif kind == 'random bytes':
        path.write_bytes(torch.randint(0, 256, (4096, ), generator=torch.Generator().manual_seed(0),
                                       dtype=torch.uint8).numpy().tobytes())
    elif kind == 'text':
        path.write_text('model weights: see the README\n')
    else:  # the weights-only unpickler's opcode for 't' pops an empty stack
        path.write_text('the weights are on the shared drive\n')
    return str(path)


BAD_FILES = {
    'empty': r'checkpoint .*bad.pth is empty \(0 bytes\)',
    'truncated': r'checkpoint .*bad.pth is truncated or corrupt: it is not a complete zip archive',
    'random bytes': r'.*bad.pth is not a checkpoint: torch cannot unpickle it',
    'text': r'.*bad.pth is not a checkpoint',
    'text starting with t': r'.*bad.pth is not a checkpoint',
}


@pytest.mark.parametrize('kind', BAD_FILES)
def test_a_file_that_is_no_checkpoint_is_named_as_such_and_not_called_unsafe(kind, tmp_path):
    path = write_bad_file(kind, tmp_path / 'bad.pth')
    with pytest.raises(CheckpointFileError, match=BAD_FILES[kind]):
        CheckpointLoader.load_checkpoint(path)
    with pytest.raises(CheckpointFileError, match=BAD_FILES[kind]):
        load_checkpoint_file(path)


@pytest.mark.parametrize('kind', BAD_FILES)
@pytest.mark.parametrize('tool', ['reparameterize', 'convert_checkpoint', 'train',
                                  *(pytest.param(tool, marks=pytest.mark.slow) for tool in ('test', 'deploy'))])
def test_tools_report_a_file_that_is_no_checkpoint_in_one_line(tool, kind, tmp_path, run_tool):
    path = write_bad_file(kind, tmp_path / 'bad.pth')
    config = str(ROOT / 'configs/demo/mobileone_s0_demo.py')
    image = str(ROOT / 'tests/deploy/data/no_such_image.jpg')  # the checkpoint is read first
    arguments = {'reparameterize': [config, path, str(tmp_path / 'out.pth')],
                 'convert_checkpoint': ['--from', 'timm', path, str(tmp_path / 'out.pth')],
                 'train': [config, '--resume', path, '--work-dir', str(tmp_path / 'work_dir')],
                 'test': [config, path, '--work-dir', str(tmp_path / 'work_dir')],
                 'deploy': [str(ROOT / 'configs/deploy/classification_onnxruntime_static.py'), config, path, image,
                            '--work-dir', str(tmp_path / 'work_dir')]}[tool]
    with pytest.raises(SystemExit, match=f'^error: {BAD_FILES[kind]}'):
        run_tool(tool, *arguments)
    assert not (tmp_path / 'out.pth').exists()


def test_a_runner_checkpoint_given_to_the_converter_reaches_the_layout_check(tmp_path, run_tool):
    # The toy model's 'linear.*' keys happen to be Apple's classifier; what matters is that its message hub
    # (HistoryBuffer, numpy values) loads and the layout is judged.
    checkpoint_path = train_toy_runner(tmp_path)
    with pytest.raises(SystemExit, match=r"^error: the checkpoint is in apple's layout, not timm's"):
        run_tool('convert_checkpoint', '--from', 'timm', str(checkpoint_path), str(tmp_path / 'out.pth'))
