"""Run by ``test_training.py`` under ``torchrun``: trains a config on CPU and saves each rank's weights.

Usage:
    torchrun --nproc_per_node 2 tests/distributed_training.py CONFIG WORK_DIR
"""
import copy
import sys

import torch
from mmengine.dist import get_rank

from mobileone_mm.engine.runner import build_runner, load_config

SHORT_RUN = {'train_cfg.max_epochs': 2, 'train_cfg.val_interval': 100, 'randomness.seed': 0}


def main() -> None:
    config, work_dir = sys.argv[1:3]
    runner = build_runner(load_config(config, SHORT_RUN, launcher='pytorch', work_dir=work_dir))
    model = runner.model.module
    initial = copy.deepcopy(parameters(model))
    runner.train()
    torch.save(dict(iter=runner.iter, parameters=parameters(model), initial_parameters=initial),
               f'{work_dir}/rank{get_rank()}.pth')


def parameters(model: torch.nn.Module) -> dict:
    """The trained weights; BN running statistics stay per process, as in mmengine's DDP on GPUs."""
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters()}


if __name__ == '__main__':
    main()
