"""Fuse the MobileOne blocks of a trained checkpoint into a checkpoint for the deploy form of its config.

The fused model is checked against the training form on demo images before
anything is written; OUT is never the input checkpoint.

Example:
    python tools/reparameterize.py configs/retinanet_mobileone_s0_coco.py work_dirs/retina/epoch_12.pth \
        work_dirs/retina/epoch_12_deploy.pth
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse

import torch

from mobileone_mm.deploy.fuse_checkpoint import PRECISIONS, TOLERANCE, ReparameterizationError, fuse_checkpoint
from mobileone_mm.deploy.task_models import FUSED_FORM_KEY
from mobileone_mm.engine.cli import add_cfg_options, one_line_errors


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config the checkpoint was trained with (mmpretrain, mmdet or mmseg)')
    parser.add_argument('checkpoint', help='trained checkpoint (training form)')
    parser.add_argument('out', help='where to write the fused checkpoint')
    parser.add_argument('--precision', choices=sorted(PRECISIONS), default='float64',
                        help='arithmetic of the check (default: float64, which judges the fusion alone; in float32, '
                        'as the model runs, a deep network amplifies rounding whichever form computes it)')
    add_cfg_options(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_flush_denormal(True)
    with one_line_errors(ReparameterizationError):
        fused = fuse_checkpoint(args.config, args.checkpoint, args.out, args.cfg_options, precision=args.precision)
    print(f'fused {fused.num_blocks} MobileOne blocks; worst relative difference of the outputs, deploy form vs '
          f'training form ({args.precision}): {fused.relative_error:.1e} (limit {TOLERANCE:.0e})')
    print(f'wrote {fused.path}')
    print(f'use it with the same config and --cfg-options {FUSED_FORM_KEY}=True, e.g.\n'
          f'  python tools/test.py {args.config} {fused.path} --cfg-options {FUSED_FORM_KEY}=True')


if __name__ == '__main__':
    main()
