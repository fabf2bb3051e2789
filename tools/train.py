"""Train a MobileOne config of mmpretrain, mmdet or mmseg (the config's scope decides).

Example:
    python tools/train.py configs/retinanet_mobileone_s4_coco.py --work-dir work_dirs/retina
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse
import pickle

from mmengine.config import DictAction
from mmengine.runner import CheckpointLoader

from mobileone_mm.engine.runner import build_runner, configure_training, load_config


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='train config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument('--resume', nargs='?', const='auto', metavar='CHECKPOINT',
                        help='resume from CHECKPOINT, or from the latest checkpoint in the work dir when none is given')
    parser.add_argument('--amp', action='store_true', help='train with automatic mixed precision')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. train_cfg.max_epochs=1 model.backbone.init_cfg=None')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher for distributed training')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:  # a bad config or --cfg-options value: one line, no traceback
        cfg = load_config(args.config, args.cfg_options, args.launcher, args.work_dir)
        cfg = configure_training(cfg, amp=args.amp, resume=args.resume)
        if args.resume not in (None, 'auto'):  # a checkpoint that does not load: say so before building anything
            CheckpointLoader.load_checkpoint(args.resume, map_location='cpu')
        runner = build_runner(cfg)
    except (ValueError, TypeError, OSError, pickle.UnpicklingError) as error:
        raise SystemExit(f'error: {error}')
    runner.train()


if __name__ == '__main__':
    main()
