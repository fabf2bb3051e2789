"""Train a MobileOne config of mmpretrain, mmdet or mmseg (the config's scope decides).

Example:
    python tools/train.py configs/retinanet_mobileone_s4_coco.py --work-dir work_dirs/retina
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse

from mobileone_mm.deploy.task_models import check_resumable
from mobileone_mm.engine.cli import add_cfg_options, one_line_errors
from mobileone_mm.engine.runner import build_runner, configure_training, load_config, prepare_training


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='train config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--resume', nargs='?', const='auto', metavar='CHECKPOINT',
                        help='resume from CHECKPOINT, or from the latest checkpoint in the work dir when none is given')
    parser.add_argument('--amp', action='store_true', help='train with automatic mixed precision')
    add_cfg_options(parser)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher for distributed training')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with one_line_errors():  # everything a bad config, option, checkpoint or dataset breaks, before training
        cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
        cfg = configure_training(cfg, amp=args.amp, resume=args.resume)
        if cfg.resume and cfg.load_from:  # before the runner writes anything into the work dir
            check_resumable(cfg, cfg.load_from)
        runner = build_runner(cfg)
        prepare_training(runner)
    runner.train()


if __name__ == '__main__':
    main()
