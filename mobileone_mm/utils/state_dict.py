"""State-dict helpers: the ``module.`` prefix, and one-line descriptions of keys that do not fit a model."""
import re
from typing import Dict, List, Mapping, Tuple

import torch

StateDict = Dict[str, torch.Tensor]
Shapes = Dict[str, Tuple[int, ...]]


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> StateDict:
    """The state dict without the ``module.`` prefix that (Distributed)DataParallel adds, as mmengine strips it."""
    return {re.sub(r'^module\.', '', key): value for key, value in state_dict.items()}


def tensor_shapes(state_dict: Mapping[str, torch.Tensor]) -> Shapes:
    return {key: tuple(value.shape) for key, value in state_dict.items()}


def few(items: List[str], count: int = 5) -> str:
    """The first ``count`` items quoted, with how many more there are."""
    shown = ', '.join(repr(item) for item in items[:count])
    return shown if len(items) <= count else f'{shown} and {len(items) - count} more'


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
