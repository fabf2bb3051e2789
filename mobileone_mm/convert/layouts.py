"""How timm and Apple name MobileOne's tensors, and which of them a checkpoint uses."""
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from ..utils.state_dict import few

BN_TENSORS = 'weight|bias|running_mean|running_var|num_batches_tracked'


def block_parts(convs: str, scale: str, identity: str, squeeze: str, excite: str) -> Tuple[Tuple[str, str], ...]:
    """Patterns of the tensors inside one block, from the source's module names, with this project's names.

    Args:
        convs (str): Name of the list of k x k conv-BN branches.
        scale (str): Name of the 1x1 conv-BN branch.
        identity (str): Name of the BN identity branch.
        squeeze (str): Regex of the SE's reducing 1x1 conv (with bias).
        excite (str): Regex of the SE's expanding 1x1 conv (with bias).
    """
    return (
        (rf'{convs}\.(\d+)\.conv\.weight', r'branch_conv_list.\1.conv.weight'),
        (rf'{convs}\.(\d+)\.bn\.({BN_TENSORS})', r'branch_conv_list.\1.norm.\2'),
        (rf'{scale}\.conv\.weight', 'branch_scale.conv.weight'),
        (rf'{scale}\.bn\.({BN_TENSORS})', r'branch_scale.norm.\1'),
        (rf'{identity}\.({BN_TENSORS})', r'branch_norm.\1'),
        (rf'{squeeze}\.(weight|bias)', r'se.conv1.conv.\1'),
        (rf'{excite}\.(weight|bias)', r'se.conv2.conv.\1'),
        (r'reparam_conv\.(weight|bias)', r'branch_reparam.\1'),
    )


@dataclass(frozen=True)
class Layout:
    """How one source names MobileOne's tensors.

    Attributes:
        name (str): Short name, the value of ``--from``.
        description (str): What the keys look like, for error messages.
        blocks (tuple): Pairs of a regex matching a block's key prefix and a
            function of the match giving this project's block name
            (``'stage0'``, ``'stage2.5'``).
        parts (tuple): Pairs of a regex matching the rest of a key inside a
            block and the template of its name here.
        head (str): Regex of the classifier's keys; its group is ``weight`` or ``bias``.
    """

    name: str
    description: str
    blocks: Tuple[Tuple[str, Callable[[re.Match], str]], ...]
    parts: Tuple[Tuple[str, str], ...]
    head: str

    def rename(self, key: str) -> Optional[str]:
        """This project's name for ``key``, or None when the key is not one of this layout's."""
        head = re.fullmatch(self.head, key)
        if head:
            return f'head.fc.{head[1]}'
        for block_pattern, block_name in self.blocks:
            block = re.match(rf'{block_pattern}\.', key)
            if block:
                for part_pattern, template in self.parts:
                    part = re.fullmatch(part_pattern, key[block.end():])
                    if part:
                        return f'backbone.{block_name(block)}.{part.expand(template)}'
        return None


TIMM = Layout(
    name='timm',
    description="timm's mobileone_s0..s4 (stem., stages.N.M.conv_kxk/conv_scale/identity/attn, head.fc.)",
    # timm's stages count from 0 and its stem is our stage0; blocks keep their order within a stage.
    blocks=(('stem', lambda match: 'stage0'),
            (r'stages\.([0-3])\.(\d+)', lambda match: f'stage{int(match[1]) + 1}.{match[2]}')),
    parts=block_parts('conv_kxk', 'conv_scale', 'identity', squeeze=r'attn\.fc1', excite=r'attn\.fc2'),
    head=r'head\.fc\.(weight|bias)')

APPLE = Layout(
    name='apple',
    description="Apple's ml-mobileone (stage0., stageN.M.rbr_conv/rbr_scale/rbr_skip/se, linear.)",
    blocks=(('stage0', lambda match: 'stage0'), (r'stage([1-4])\.(\d+)', lambda match: f'stage{match[1]}.{match[2]}')),
    parts=block_parts('rbr_conv', 'rbr_scale', 'rbr_skip', squeeze=r'se\.reduce', excite=r'se\.expand'),
    head=r'linear\.(weight|bias)')

LAYOUTS: Dict[str, Layout] = {layout.name: layout for layout in (TIMM, APPLE)}


def detect_layout(keys: List[str], source: Optional[str] = None) -> Layout:
    """The layout that names every one of ``keys``.

    Args:
        keys (list[str]): Keys of the source state dict.
        source (str, optional): The layout the caller expects ('timm' or
            'apple'); None accepts either.

    Raises:
        ValueError: When no supported layout names every key (the message
            names a few keys it does not recognise), or when the keys are in
            another layout than ``source``.
    """
    if source is not None and source not in LAYOUTS:
        raise ValueError(f'unknown source layout {source!r}; supported: {sorted(LAYOUTS)}')
    unrecognised = {name: [key for key in keys if layout.rename(key) is None] for name, layout in LAYOUTS.items()}
    fitting = [name for name, rest in unrecognised.items() if not rest]
    if source in fitting or (source is None and fitting):
        return LAYOUTS[source or fitting[0]]
    if fitting:
        raise ValueError(f"the checkpoint is in {fitting[0]}'s layout, not {source}'s "
                         f'(e.g. {keys[0]!r}); convert it as {fitting[0]}')
    closest = source or min(unrecognised, key=lambda name: len(unrecognised[name]))
    supported = '; '.join(layout.description for layout in LAYOUTS.values())
    raise ValueError(f'unrecognised checkpoint layout: {len(unrecognised[closest])} of {len(keys)} keys are not '
                     f"{closest}'s, e.g. {few(unrecognised[closest])}. Supported layouts: {supported}")
