"""Write the embedded demo datasets (ImageNet, COCO, VOC and ADE20K layouts) under a folder.

Example:
    python tools/make_demo_data.py --root data/demo
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import argparse

from mobileone_mm.testing.demo_data import generate_demo_data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--root', default='data/demo', help='output folder (default: data/demo)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the generator (default: 0)')
    parser.add_argument('--scale', type=float, default=1.0, help='multiplies the number of images (default: 1.0)')
    args = parser.parse_args()
    for name, root in generate_demo_data(args.root, args.seed, args.scale).items():
        print(f'{name:>9}: {root}')


if __name__ == '__main__':
    main()
