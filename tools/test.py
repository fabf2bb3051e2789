"""Evaluate a checkpoint of a MobileOne config of mmpretrain, mmdet or mmseg.

The checkpoint must fit the config's model exactly (a fused checkpoint needs
--cfg-options model.backbone.deploy=True): mmengine loads non-strictly and
would evaluate whatever partly fits. The metrics are logged and, as the last
line, printed as JSON.

Example:
    python tools/test.py configs/retinanet_mobileone_s4_coco.py work_dirs/retina/epoch_12.pth --out preds.pkl
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse
import json

from mmengine.model import is_model_wrapper

from mobileone_mm.deploy.task_models import read_fitting_checkpoint
from mobileone_mm.engine.cli import add_cfg_options, one_line_errors
from mobileone_mm.engine.runner import build_runner, configure_testing, load_config, prepare_testing


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='test config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump the predictions to this .pkl file')
    parser.add_argument('--show-dir', help='draw the predictions into this folder')
    add_cfg_options(parser, help='override config settings, e.g. test_dataloader.batch_size=1')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher for distributed testing')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with one_line_errors():
        cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
        cfg = configure_testing(cfg, args.checkpoint, out=args.out, show_dir=args.show_dir)
        runner = build_runner(cfg)
        read_fitting_checkpoint(runner.model.module if is_model_wrapper(runner.model) else runner.model,
                                args.checkpoint)
        prepare_testing(runner)
    metrics = runner.test()
    print(json.dumps(metrics, default=float))


if __name__ == '__main__':
    main()
