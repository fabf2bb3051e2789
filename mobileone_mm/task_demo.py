"""One task of the demo: train a config, evaluate it, re-parameterize the checkpoint, evaluate the fused model.

Every step goes through the tools a user would run: mmengine's ``Runner`` as
``tools/train.py`` and ``tools/test.py`` build it, and
:func:`~mobileone_mm.fuse_checkpoint.fuse_checkpoint` as
``tools/reparameterize.py`` calls it. The fused checkpoint is evaluated in the
deploy form of the same config (``model.backbone.deploy=True``).
"""
import os.path as osp
import time
from dataclasses import dataclass
from typing import Dict, Optional

from mmengine.runner import find_latest_checkpoint

from .fuse_checkpoint import fuse_checkpoint
from .runner import build_runner, configure_testing, load_config
from .task_model import DEPLOY_KEY

METRIC_OF_SCOPE = {'mmdet': 'coco/bbox_mAP', 'mmpretrain': 'accuracy/top1', 'mmseg': 'mIoU'}
TASK_OF_SCOPE = {'mmdet': 'detection', 'mmpretrain': 'classification', 'mmseg': 'segmentation'}


@dataclass
class TaskDemoResult:
    """What one task of the demo measured.

    Attributes:
        task (str): ``'classification'``, ``'detection'`` or ``'segmentation'``.
        arch (str): The MobileOne variant.
        metric (str): The metric's name, as the framework's evaluator calls it.
        checkpoint (str): The trained checkpoint.
        before (float): The metric of the trained checkpoint (training form).
        after (float): The metric of the fused checkpoint (deploy form).
        reparameterization_error (float): Worst relative difference of the
            fused model's outputs from the training form's on a demo image.
        train_seconds (float): Training time.
        test_seconds_before (float): Evaluation time, training form.
        test_seconds_after (float): Evaluation time, deploy form.
    """
    task: str
    arch: str
    metric: str
    checkpoint: str
    before: float
    after: float
    reparameterization_error: float
    train_seconds: float
    test_seconds_before: float
    test_seconds_after: float


def run_task_demo(config: str, work_dir: str, cfg_options: Optional[dict] = None) -> TaskDemoResult:
    """Trains ``config``, evaluates it, fuses the checkpoint and evaluates again.

    Args:
        config (str): A demo config (``configs/demo/``).
        work_dir (str): Where the logs and checkpoints go.
        cfg_options (dict, optional): Config overrides. Defaults to None.

    Returns:
        TaskDemoResult: The metrics before and after re-parameterization,
        with the times.
    """
    cfg = load_config(config, cfg_options, work_dir=work_dir)
    start = time.perf_counter()
    build_runner(cfg).train()
    train_seconds = time.perf_counter() - start

    checkpoint = find_latest_checkpoint(work_dir)
    before, test_seconds_before = evaluate(config, checkpoint, work_dir, cfg_options, 'train_form')
    fused_checkpoint = osp.join(work_dir, 'deploy.pth')
    fused = fuse_checkpoint(config, checkpoint, fused_checkpoint, cfg_options)
    deploy_options = dict(cfg_options or {}, **{DEPLOY_KEY: True})
    after, test_seconds_after = evaluate(config, fused_checkpoint, work_dir, deploy_options, 'deploy_form')

    scope = cfg.default_scope
    metric = METRIC_OF_SCOPE[scope]
    return TaskDemoResult(TASK_OF_SCOPE[scope], cfg.model.backbone.arch, metric, checkpoint, before[metric],
                          after[metric], fused.relative_error, train_seconds, test_seconds_before, test_seconds_after)


def evaluate(config: str, checkpoint: str, work_dir: str, cfg_options: Optional[dict],
             experiment_name: str) -> tuple[Dict[str, float], float]:
    """Runs the config's test loop on ``checkpoint``, as ``tools/test.py`` does.

    Returns:
        tuple[dict, float]: The metrics and the seconds the evaluation took.
    """
    cfg = configure_testing(load_config(config, cfg_options, work_dir=work_dir), checkpoint)
    cfg.experiment_name = f'{experiment_name}_{time.strftime("%Y%m%d_%H%M%S")}'
    runner = build_runner(cfg)
    start = time.perf_counter()
    metrics = runner.test()
    return metrics, time.perf_counter() - start
