"""Checkpoint converters from timm's and Apple's MobileOne into this project's layout.

This project's layout is mmpretrain's: backbone tensors under ``backbone.``
(``backbone.stage1.0.branch_conv_list.0.norm.weight``), the classifier of a
``LinearClsHead`` under ``head.fc.``. Both sources come in two forms, and each
converts to the matching one of ``MobileOne``:

- train form (unfused branches) -> ``MobileOne(arch)``;
- fused form (timm's ``reparameterize_model``, Apple's ``mobileone_s*.pth.tar``)
  -> ``MobileOne(arch, deploy=True)`` (``branch_reparam``).

The layout is recognised from the key names, the arch from the tensor shapes,
and every converted tensor is checked against the shapes ``MobileOne(arch)``
expects, so a converted checkpoint loads with ``strict=True``.
"""
import functools
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import torch

from .mobileone import MobileOne, arch_channels

StateDict = Dict[str, torch.Tensor]
Shapes = Dict[str, Tuple[int, ...]]
PathLike = Union[str, os.PathLike]

ARCHS = tuple(sorted(MobileOne.arch_zoo))
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


@dataclass(frozen=True)
class Conversion:
    """A checkpoint converted into this project's layout, and what it holds.

    Attributes:
        state_dict (dict): The converted tensors (``backbone.*``, ``head.fc.*``).
        source (str): The layout converted from, a key of :data:`LAYOUTS`.
        arch (str): 's0' .. 's4'.
        form (str): ``'train'`` (load into ``MobileOne(arch)``) or
            ``'deploy'`` (load into ``MobileOne(arch, deploy=True)``).
        num_classes (int, optional): Classes of the classifier head, None
            when the checkpoint has none.
    """

    state_dict: StateDict
    source: str
    arch: str
    form: str
    num_classes: Optional[int]

    @property
    def meta(self) -> dict:
        """The ``meta`` entry of the saved checkpoint."""
        return dict(converted_from=self.source, arch=self.arch, form=self.form, num_classes=self.num_classes)


def few(items: List[str], count: int = 5) -> str:
    """The first ``count`` items quoted, with how many more there are."""
    shown = ', '.join(repr(item) for item in items[:count])
    return shown if len(items) <= count else f'{shown} and {len(items) - count} more'


def extract_state_dict(checkpoint: Mapping[str, Any]) -> StateDict:
    """The tensors of a loaded checkpoint.

    Unwraps a ``state_dict`` entry (training checkpoints) and strips the
    ``module.`` prefix that ``DataParallel`` adds.

    Raises:
        ValueError: When the checkpoint is not a dict of tensors.
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'a checkpoint must be a dict of tensors, got {type(checkpoint).__name__}')
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise ValueError('the checkpoint holds no tensors')
    not_tensors = [key for key, value in state_dict.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ValueError(f'the checkpoint has entries that are not tensors: {few(not_tensors)}')
    if all(key.startswith('module.') for key in state_dict):
        return {key[len('module.'):]: value for key, value in state_dict.items()}
    return dict(state_dict)


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


@functools.lru_cache(maxsize=None)
def expected_shapes(arch: str, deploy: bool) -> Shapes:
    """Shapes of the tensors of ``MobileOne(arch, deploy=deploy)``, keyed as in this layout.

    The model is built on the meta device, so no memory or init time is spent.
    """
    with torch.device('meta'):
        model = MobileOne(arch, deploy=deploy)
    return {f'backbone.{key}': tuple(value.shape) for key, value in model.state_dict().items()}


def shape_mismatches(shapes: Shapes, expected: Shapes) -> Dict[str, List[str]]:
    """Keys missing, unexpected or of the wrong shape; all lists empty when ``shapes`` loads strictly.

    ``num_batches_tracked`` may be missing: torch fills it in when loading.
    """
    return {
        'missing keys': [key for key in expected if key not in shapes and not key.endswith('.num_batches_tracked')],
        'unexpected keys': [key for key in shapes if key not in expected],
        'keys of the wrong shape': [f'{key} {shapes[key]} instead of {expected[key]}'
                               for key in shapes if key in expected and shapes[key] != expected[key]],
    }


def describe_mismatches(mismatches: Dict[str, List[str]]) -> str:
    """One line naming a few keys of each kind of mismatch, e.g. ``"missing keys (2): 'a', 'b'"``."""
    return '; '.join(f'{kind} ({len(keys)}): {few(keys, 3)}' for kind, keys in mismatches.items() if keys)


def resolve_arch(state_dict: StateDict, form: str, arch: Optional[str] = None) -> str:
    """The arch whose backbone the converted tensors fit exactly.

    Args:
        state_dict (dict): Converted tensors.
        form (str): 'train' or 'deploy'.
        arch (str, optional): The arch the caller expects; None infers it.

    Raises:
        ValueError: For an unknown ``arch``, when the tensors do not fit it
            (naming the arch they do fit, if any), or when they fit none.
    """
    if arch is not None and arch not in ARCHS:
        raise ValueError(f'arch {arch!r} is not one of {list(ARCHS)}')
    shapes = {key: tuple(value.shape) for key, value in state_dict.items() if key.startswith('backbone.')}
    mismatches = {name: shape_mismatches(shapes, expected_shapes(name, form == 'deploy')) for name in ARCHS}
    fitting = [name for name in ARCHS if not any(mismatches[name].values())]
    if arch is None and fitting:
        return fitting[0]  # the stage widths differ between archs, so at most one fits
    if arch in fitting:
        return arch
    if arch is not None:
        fits = f'; its tensors fit {fitting[0]!r}' if fitting else ''
        raise ValueError(f'the checkpoint does not fit MobileOne {arch!r} ({form} form): '
                         f'{describe_mismatches(mismatches[arch])}{fits}')
    closest = min(ARCHS, key=lambda name: sum(map(len, mismatches[name].values())))
    raise ValueError(f'the checkpoint fits none of MobileOne {", ".join(ARCHS)} ({form} form); the closest, '
                     f'{closest!r}, differs by {describe_mismatches(mismatches[closest])}')


def check_head(state_dict: StateDict, arch: str) -> Optional[int]:
    """Number of classes of the ``head.fc`` classifier, None without one.

    Raises:
        ValueError: When the head lacks its weight or bias, or its shapes do
            not fit the arch's last stage.
    """
    weight, bias = state_dict.get('head.fc.weight'), state_dict.get('head.fc.bias')
    if weight is None and bias is None:
        return None
    channels = arch_channels(arch)[-1]
    if (weight is None or bias is None or weight.ndim != 2 or weight.shape[1] != channels
            or tuple(bias.shape) != (weight.shape[0], )):
        shapes = [None if tensor is None else tuple(tensor.shape) for tensor in (weight, bias)]
        raise ValueError(f'the classifier of a MobileOne {arch!r} needs a weight of shape (num_classes, {channels}) '
                         f'and a bias of shape (num_classes, ); got {shapes[0]} and {shapes[1]}')
    return weight.shape[0]


def convert_state_dict(checkpoint: Mapping[str, Any],
                       source: Optional[str] = None,
                       arch: Optional[str] = None) -> Conversion:
    """Converts a loaded timm or Apple MobileOne checkpoint into this project's layout.

    Pure: ``checkpoint`` is not modified; the result shares its tensors.

    Args:
        checkpoint (dict): A state dict, or a dict with one under ``state_dict``;
            keys may carry ``module.``.
        source (str, optional): 'timm' or 'apple'; None detects it from the keys.
        arch (str, optional): 's0' .. 's4'; None infers it from the shapes.

    Returns:
        Conversion: The converted state dict, its layout, arch, form and classes.

    Raises:
        ValueError: For an unrecognised layout, a layout other than
            ``source``, or tensors that do not fit ``arch`` (or any arch).

    Example:
        >>> import timm
        >>> conversion = convert_state_dict(timm.create_model('mobileone_s0').state_dict())
        >>> conversion.arch, conversion.form, conversion.num_classes
        ('s0', 'train', 1000)
    """
    state_dict = extract_state_dict(checkpoint)
    layout = detect_layout(list(state_dict), source)
    converted = {layout.rename(key): value for key, value in state_dict.items()}
    form = 'deploy' if any('.branch_reparam.' in key for key in converted) else 'train'
    arch = resolve_arch(converted, form, arch)
    return Conversion(converted, layout.name, arch, form, check_head(converted, arch))


def load_checkpoint_file(path: PathLike) -> Any:
    """Loads a checkpoint onto the CPU with torch's weights-only unpickler.

    Raises:
        FileNotFoundError: When ``path`` is not a file.
        pickle.UnpicklingError: When the pickle names anything but tensors
            and plain containers (a pickle can run code).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f'checkpoint {str(path)!r} does not exist or is not a file')
    return torch.load(path, map_location='cpu', weights_only=True)


def check_output_path(out: PathLike, input_path: PathLike) -> None:
    """Refuses an OUT that is the input file or a folder, or whose folder does not exist."""
    out = Path(out)
    if out.exists() and Path(input_path).exists() and os.path.samefile(out, input_path):
        raise ValueError(f'refusing to overwrite the input checkpoint {str(input_path)!r}; choose another OUT')
    if out.is_dir():
        raise IsADirectoryError(f'OUT {str(out)!r} is a folder; give a file name')
    if not out.parent.is_dir():
        raise FileNotFoundError(f'the folder of OUT {str(out)!r} does not exist')


def save_checkpoint_file(conversion: Conversion, out: PathLike, input_path: PathLike) -> None:
    """Saves ``{'state_dict': ..., 'meta': ...}`` to ``out``, all or nothing.

    The checkpoint is written to a temporary file in OUT's folder and renamed
    over OUT, so OUT is either complete or untouched, even if writing fails.

    Args:
        conversion (Conversion): The converted checkpoint.
        out (str | PathLike): The file to write.
        input_path (str | PathLike): The file converted, which is never overwritten.
    """
    check_output_path(out, input_path)
    out = Path(out)
    temporary = out.with_name(f'.{out.name}.{uuid.uuid4().hex[:8]}.tmp')
    file = open(temporary, 'xb')
    try:
        with file:
            torch.save(dict(state_dict=conversion.state_dict, meta=conversion.meta), file)
        os.replace(temporary, out)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def convert_file(input_path: PathLike,
                 out: PathLike,
                 source: Optional[str] = None,
                 arch: Optional[str] = None) -> Conversion:
    """Loads a timm or Apple checkpoint weights-only, converts it and saves it to ``out``.

    Nothing is written unless the conversion succeeds. See :func:`convert_state_dict`
    for ``source`` and ``arch``.
    """
    check_output_path(out, input_path)
    conversion = convert_state_dict(load_checkpoint_file(input_path), source, arch)
    save_checkpoint_file(conversion, out, input_path)
    return conversion
