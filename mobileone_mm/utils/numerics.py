"""The measures by which comparisons of outputs in this package are judged: relative error and cosine."""
from typing import Sequence, Union

import torch

Outputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def relative_error(actual: Outputs, expected: Outputs) -> float:
    """Largest absolute difference over the largest magnitude of ``expected``.

    Judging relative to the activations' magnitude matters: random-init
    MobileOne activations reach 1e5, where an absolute tolerance means nothing.
    Sequences (multi-scale outputs) give the worst error of their members.
    """
    if isinstance(actual, torch.Tensor):
        actual, expected = [actual], [expected]
    if len(actual) != len(expected):
        raise ValueError(f'{len(actual)} outputs compared with {len(expected)}')
    return max(((a.double() - e.double()).abs().max() / e.double().abs().max().clamp_min(1e-30)).item()
               for a, e in zip(actual, expected))


def cosine_similarity(actual: Outputs, expected: Outputs) -> float:
    """Cosine of the angle between all outputs flattened into one vector each, in float64.

    What reduced precision (bf16, INT8) is judged by beside the relative
    error: it says whether the outputs point the same way, whatever their scale.
    """
    if isinstance(actual, torch.Tensor):
        actual, expected = [actual], [expected]
    a = torch.cat([tensor.double().flatten() for tensor in actual])
    e = torch.cat([tensor.double().flatten() for tensor in expected])
    return torch.nn.functional.cosine_similarity(a, e, dim=0).item()
