"""Builds every MobileOne variant and proves its numbers (the first step of `make demo`).

For s0..s4 it prints channels, parameters and FLOPs measured here, and
- the relative error against mmpretrain's MobileOne on the same state dict
  (train form in float32, which must be 0; fused forms in float64),
- the re-parameterization error of the whole backbone in float64 and of the
  worst single block, on the activations it sees, in float32,
all of which must be <= 1e-5, and, for information, the whole backbone's
float32 re-parameterization error, where a deep random network amplifies each
layer's rounding whichever form computes it.
"""
from stack_notices import silence_stack_notices  # first: the imports below trigger them

silence_stack_notices()

import torch
from tqdm import tqdm

from mobileone_mm.benchmark.sizes import arch_summary
from mobileone_mm.models import ARCHS, MobileOne
from mobileone_mm.testing.equivalence import (blockwise_reparameterization_error, compare_with_mmpretrain,
                                              reparameterization_error)
from mobileone_mm.testing.weights import make_realistic_
from mobileone_mm.utils.logging import quiet_mmengine_logger

TOLERANCE = 1e-5
CHECKED = ('train_fp32', 'deploy_fp64', 'reparam_fp64', 'block_fp32')


def check_arch(arch: str, inputs: torch.Tensor) -> dict:
    fp32 = compare_with_mmpretrain(arch, inputs)
    fp64 = compare_with_mmpretrain(arch, inputs.double())
    model = make_realistic_(MobileOne(arch, out_indices=(0, 1, 2, 3)))
    return dict(arch_summary(arch), train_fp32=fp32['train'], deploy_fp64=fp64['deploy'],
                reparam_fp64=fp64['reparam'], block_fp32=blockwise_reparameterization_error(model, inputs),
                reparam_fp32=reparameterization_error(model, inputs))


def main() -> None:
    torch.set_flush_denormal(True)
    inputs = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with quiet_mmengine_logger():
        rows = [check_arch(arch, inputs) for arch in tqdm(ARCHS, desc='MobileOne variants')]
    print('relative errors: vs mmpretrain (train form fp32 | fused fp64); reparam (backbone fp64 | worst block '
          'fp32 | backbone fp32, not checked)')
    header = (f'{"arch":<5}{"stage channels":<24}{"params train":>13}{"params deploy":>14}{"GFLOPs":>7}'
              f'{"mmpretrain":>11}{"fused":>9}{"reparam":>9}{"block":>9}{"fp32":>9}')
    print(header)
    print('-' * len(header))
    for row in rows:
        print(f'{row["arch"]:<5}{str(row["channels"]):<24}{row["train_params"] / 1e6:>12.2f}M'
              f'{row["fused_params"] / 1e6:>13.2f}M{row["fused_flops"] / 1e9:>7.2f}{row["train_fp32"]:>11.1e}'
              f'{row["deploy_fp64"]:>9.1e}{row["reparam_fp64"]:>9.1e}{row["block_fp32"]:>9.1e}'
              f'{row["reparam_fp32"]:>9.1e}')
    worst = max(row[key] for row in rows for key in CHECKED)
    print(f'worst checked relative error: {worst:.1e} (limit {TOLERANCE:.0e})')
    if worst > TOLERANCE:
        raise SystemExit('FAILED: an error is above the limit')


if __name__ == '__main__':
    main()
