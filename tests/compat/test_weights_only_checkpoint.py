import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from torch.utils.data import Dataset

from mobileone_mm.compat.weights_only_checkpoint import UnsafeCheckpointError


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
