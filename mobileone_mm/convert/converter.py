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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

import torch

from ..compat.weights_only_checkpoint import load_with_allow_list
from ..models import ARCHS, MobileOne, arch_channels
from ..utils.files import PathLike, check_output_path, save_atomically
from ..utils.state_dict import Shapes, StateDict, describe_mismatches, few, shape_mismatches, strip_module_prefix
from .layouts import detect_layout


@dataclass(frozen=True)
class Conversion:
    """A checkpoint converted into this project's layout, and what it holds.

    Attributes:
        state_dict (dict): The converted tensors (``backbone.*``, ``head.fc.*``).
        source (str): The layout converted from, a key of :data:`~.layouts.LAYOUTS`.
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
    return strip_module_prefix(state_dict)


@functools.lru_cache(maxsize=None)
def expected_shapes(arch: str, deploy: bool) -> Shapes:
    """Shapes of the tensors of ``MobileOne(arch, deploy=deploy)``, keyed as in this layout.

    The model is built on the meta device, so no memory or init time is spent.
    """
    with torch.device('meta'):
        model = MobileOne(arch, deploy=deploy)
    return {f'backbone.{key}': tuple(value.shape) for key, value in model.state_dict().items()}


def infer_arch(state_dict: StateDict, form: str, arch: Optional[str] = None) -> str:
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
    arch = infer_arch(converted, form, arch)
    return Conversion(converted, layout.name, arch, form, check_head(converted, arch))


def load_checkpoint_file(path: PathLike) -> Any:
    """Loads a checkpoint onto the CPU with torch's weights-only unpickler and mmengine's allow-list.

    A runner checkpoint loads too, so that the layout check can say what it is.

    Raises:
        FileNotFoundError: When ``path`` is not a file.
        CheckpointFileError: When the file is empty, truncated or no checkpoint.
        UnsafeCheckpointError: When the pickle names a global outside the
            allow-list (a pickle can run code).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f'checkpoint {str(path)!r} does not exist or is not a file')
    return load_with_allow_list(lambda: torch.load(path, map_location='cpu', weights_only=True), str(path))


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
    save_atomically(dict(state_dict=conversion.state_dict, meta=conversion.meta), out)


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
