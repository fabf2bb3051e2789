"""The main job, end to end on CPU and offline: MobileOne in detection, classification and segmentation.

It writes the embedded demo data, then for the ImageNet-style classifier,
RetinaNet (whose backbone starts from that classifier, as the shipped config
starts from ImageNet) and DeepLabV3 (configs/demo/, which inherit the shipped
configs) trains the model, evaluates it, re-parameterizes the checkpoint
(tools/reparameterize.py's check included) and evaluates the fused model, and
prints a table of the metrics before and after re-parameterization with the
times. It fails when a metric changes. The paper's SSDLite detector (which
starts from the classifier too) runs on request, outside `make demo`'s time
budget: ``--only classifier ssdlite``.

Example:
    python tools/demo.py --work-dir work_dirs/demo
    python tools/demo.py --only classifier ssdlite
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse
import logging
import os.path as osp
import time
from dataclasses import dataclass
from typing import Dict, Optional

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner, find_latest_checkpoint
from tqdm import tqdm

from mobileone_mm.deploy.fuse_checkpoint import fuse_checkpoint
from mobileone_mm.deploy.task_models import FUSED_FORM_KEY
from mobileone_mm.engine.runner import build_runner, configure_testing, load_config
from mobileone_mm.testing.demo_data import generate_demo_data

DEMO_CONFIGS = {  # in this order: the detectors start from the classifier's checkpoint
    'classifier': 'configs/demo/mobileone_s0_demo.py',
    'retinanet': 'configs/demo/retinanet_mobileone_s0_demo.py',
    'deeplabv3_voc': 'configs/demo/deeplabv3_mobileone_s1_d8_voc12aug_demo.py',
    'ssdlite': 'configs/demo/ssdlite_mobileone_s0_demo.py',
}
DEFAULT_DEMOS = ['classifier', 'retinanet', 'deeplabv3_voc']  # SSDLite on request: `make demo` stays under 20 min
FROM_CLASSIFIER = ('retinanet', 'ssdlite')
BACKBONE_CHECKPOINT_KEY = 'model.backbone.init_cfg.checkpoint'
DATA_ROOT = 'data/demo'  # where configs/demo/ read it
METRIC_TOLERANCE = 1e-9  # the metrics are computed from the same predictions: they must be equal
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
        after (float): The metric of the fused checkpoint (fused form).
        reparameterization_error (float): Worst relative difference of the
            fused model's outputs from the training form's on a demo image.
        train_seconds (float): Training time.
        test_seconds_before (float): Evaluation time, training form.
        test_seconds_after (float): Evaluation time, fused form.
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
    quiet_runner(cfg, f'{TASK_OF_SCOPE[cfg.default_scope]}: training').train()
    train_seconds = time.perf_counter() - start

    checkpoint = find_latest_checkpoint(work_dir)
    before, test_seconds_before = evaluate(config, checkpoint, work_dir, cfg_options, 'train_form')
    fused_checkpoint = osp.join(work_dir, 'deploy.pth')
    fused = fuse_checkpoint(config, checkpoint, fused_checkpoint, cfg_options)
    fused_options = dict(cfg_options or {}, **{FUSED_FORM_KEY: True})
    after, test_seconds_after = evaluate(config, fused_checkpoint, work_dir, fused_options, 'fused_form')

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
    runner = quiet_runner(cfg, f'{TASK_OF_SCOPE[cfg.default_scope]}: testing the {experiment_name.replace("_", " ")}')
    start = time.perf_counter()
    metrics = runner.test()
    return metrics, time.perf_counter() - start


class ProgressBar(Hook):
    """A progress bar over the iterations of training or testing, with the training loss."""

    priority = 'VERY_LOW'

    def __init__(self, description: str) -> None:
        self.description = description

    def before_train(self, runner) -> None:
        self.bar = tqdm(total=runner.max_iters - runner.iter, desc=self.description, unit='it')

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.bar.update()
        if outputs and 'loss' in outputs:
            self.bar.set_postfix(loss=f'{float(outputs["loss"].detach()):.3f}')

    def after_train(self, runner) -> None:
        self.bar.close()

    def before_test(self, runner) -> None:
        self.bar = tqdm(total=len(runner.test_dataloader), desc=self.description, unit='batch')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.bar.update()

    def after_test(self, runner) -> None:
        self.bar.close()


def quiet_runner(cfg: Config, description: str) -> Runner:
    """The config's runner, printing warnings and a progress bar; its log file in the work dir keeps the INFO lines.

    mmengine prints the environment, the whole config and a line per logging
    interval for each of the demo's nine runners: thousands of lines.
    """
    runner = build_runner(cfg)  # its console without mmengine's dumps from the start
    for handler in runner.logger.handlers:
        if not isinstance(handler, logging.FileHandler):
            handler.setLevel(logging.WARNING)
    runner.register_hook(ProgressBar(description))
    return runner


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo', help='where logs and checkpoints go')
    parser.add_argument('--only', nargs='+', choices=list(DEMO_CONFIGS), default=DEFAULT_DEMOS,
                        help=f'run these demos (default: {" ".join(DEFAULT_DEMOS)}; without the classifier, the '
                        'detectors start from the checkpoint their configs name)')
    return parser.parse_args()


def print_table(results: list[TaskDemoResult]) -> None:
    header = (f'{"task":<15}{"arch":<5}{"metric":<15}{"before":>9}{"after":>9}{"fused vs train":>15}'
              f'{"train":>8}{"test before":>12}{"test after":>11}')
    print(header)
    print('-' * len(header))
    for result in results:
        print(f'{result.task:<15}{result.arch:<5}{result.metric:<15}{result.before:>9.4f}{result.after:>9.4f}'
              f'{result.reparameterization_error:>15.1e}{result.train_seconds:>7.0f}s'
              f'{result.test_seconds_before:>11.1f}s{result.test_seconds_after:>10.1f}s')


def main() -> None:
    args = parse_args()
    torch.set_flush_denormal(True)
    start = time.perf_counter()
    for name, root in generate_demo_data(DATA_ROOT).items():
        print(f'demo data, {name}: {root}')
    results: dict[str, TaskDemoResult] = {}
    for name in (name for name in DEMO_CONFIGS if name in args.only):
        options = None
        if name in FROM_CLASSIFIER and 'classifier' in results:
            options = {BACKBONE_CHECKPOINT_KEY: results['classifier'].checkpoint}
        results[name] = run_task_demo(DEMO_CONFIGS[name], osp.join(args.work_dir, name), options)
    print(f'\nMobileOne demo: metrics of the trained checkpoint (training form) and of the re-parameterized one '
          f'(deploy form); {time.perf_counter() - start:.0f} s in all, threads: {torch.get_num_threads()}')
    print_table(list(results.values()))
    changed = [result.task for result in results.values() if abs(result.after - result.before) > METRIC_TOLERANCE]
    if changed:
        raise SystemExit(f'FAILED: re-parameterization changed the metric of {", ".join(changed)}')


if __name__ == '__main__':
    main()
