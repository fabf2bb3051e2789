"""Converts a timm or Apple (ml-mobileone) MobileOne checkpoint into this project's (mmpretrain's) layout.

The input is loaded weights-only; the arch is inferred from the tensor shapes
(or checked against --arch), and OUT is written only when the conversion succeeds.

Example:
    python tools/convert_checkpoint.py --from apple mobileone_s0_unfused.pth.tar mobileone_s0.pth
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse

from mobileone_mm.convert import LAYOUTS, convert_file
from mobileone_mm.engine.cli import one_line_errors
from mobileone_mm.models import ARCHS


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--from', dest='source', required=True, choices=sorted(LAYOUTS),
                        help='layout of IN: timm (mobileone_s0..s4, also after reparameterize_model) or apple '
                        '(mobileone_s*_unfused.pth.tar or the fused mobileone_s*.pth.tar)')
    parser.add_argument('input', metavar='IN', help='checkpoint to convert')
    parser.add_argument('out', metavar='OUT', help='file to write; never IN')
    parser.add_argument('--arch', choices=ARCHS, help='expected arch; inferred from the tensor shapes by default')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with one_line_errors():
        conversion = convert_file(args.input, args.out, args.source, args.arch)
    deploy = ', deploy=True' if conversion.form == 'deploy' else ''
    head = 'none' if conversion.num_classes is None else f'head.fc with {conversion.num_classes} classes'
    print(f'converted {args.input} -> {args.out}\n'
          f'  layout: {conversion.source}, arch: {conversion.arch}, form: {conversion.form} '
          f"(load into MobileOne(arch='{conversion.arch}'{deploy}))\n"
          f'  tensors: {len(conversion.state_dict)}, head: {head}')


if __name__ == '__main__':
    main()
