"""Re-parameterization of whole models (classifiers, detectors, segmentors).

Fuses this package's MobileOne blocks and those of mmpretrain's and timm's
MobileOne, each by its own code, so that one call serves a model built from any
of the three.
"""
import sys
import warnings
from collections import Counter
from typing import Callable, Dict, Iterator, Tuple

import torch.nn as nn
from mmengine.logging import print_log

from .block import MobileOneBlock
from .mobileone import MobileOne

# The MobileOne blocks of other libraries: where each lives, whether one is fused, and how it fuses itself.
FOREIGN_BLOCKS: Dict[str, Tuple[str, Callable[[nn.Module], bool], Callable[[nn.Module], None]]] = {
    'mmpretrain': ('mmpretrain.models.backbones.mobileone', lambda block: block.deploy,
                   lambda block: block.switch_to_deploy()),
    'timm': ('timm.models.byobnet', lambda block: block.reparam_conv is not None,
             lambda block: block.reparameterize()),
}


def mobileone_blocks(model: nn.Module) -> Iterator[Tuple[str, nn.Module, bool]]:
    """Yields ``(library, block, fused)`` for every MobileOne block in ``model``: this package's, mmpretrain's, timm's.

    A library whose module is not imported cannot have built a block, so it is
    not imported here (timm is not a dependency).
    """
    foreign = {library: (sys.modules[module].MobileOneBlock, is_fused)
               for library, (module, is_fused, _) in FOREIGN_BLOCKS.items() if module in sys.modules}
    for module in model.modules():
        if isinstance(module, MobileOneBlock):
            yield 'mobileone_mm', module, module.deploy
        for library, (block_type, is_fused) in foreign.items():
            if isinstance(module, block_type):
                yield library, module, is_fused(module)


def fuse_mobileone_blocks(model: nn.Module) -> Counter:
    """Fuses every MobileOne block in ``model`` in place, quietly.

    The backbones (this package's and mmpretrain's ``MobileOne``) fuse through
    their own ``switch_to_deploy``, which also sets their ``deploy`` flag; loose
    blocks and timm's through theirs.

    Returns:
        Counter: The blocks fused now, per library.
    """
    unfused = [(library, block) for library, block, fused in mobileone_blocks(model) if not fused]
    mmpretrain = sys.modules.get(FOREIGN_BLOCKS['mmpretrain'][0])
    backbone_types = (MobileOne, ) + (() if mmpretrain is None else (mmpretrain.MobileOne, ))
    for module in list(model.modules()):
        if isinstance(module, backbone_types):
            module.switch_to_deploy()
    for library, block in unfused:
        if library == 'mobileone_mm':
            block.switch_to_deploy()
        else:
            FOREIGN_BLOCKS[library][2](block)
    return Counter(library for library, _ in unfused)


def reparameterize_model(model: nn.Module) -> nn.Module:
    """Fuses every MobileOne block inside ``model`` in place, and logs how many.

    Works on any model that contains this package's :class:`MobileOne`
    backbones or loose :class:`MobileOneBlock` s (also after SyncBN training),
    and on mmpretrain's and timm's MobileOne, each fused by its own code;
    idempotent. Warns when ``model`` holds no MobileOne block at all.

    Args:
        model (nn.Module): The model to fuse.

    Returns:
        nn.Module: ``model`` itself.
    """
    fused_now = fuse_mobileone_blocks(model)
    if fused_now:
        by_library = ', '.join(f'{count} {library}' for library, count in sorted(fused_now.items()))
        print_log(f'reparameterize_model: fused {sum(fused_now.values())} MobileOne blocks ({by_library})',
                  logger='current')
    elif next(mobileone_blocks(model), None) is None:
        warnings.warn(f'reparameterize_model: {type(model).__name__} holds no MobileOne block (of mobileone_mm, '
                      f'mmpretrain or timm); nothing was fused', stacklevel=2)
    return model
