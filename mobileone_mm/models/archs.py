"""The MobileOne variants as data: one row per arch, checked once at construction.

``ARCH_ZOO`` holds the rows of S0..S4 (the paper's Table 7, as mmpretrain's
``MobileOne.arch_zoo``); a custom arch is a dict of the same shape.
"""
from numbers import Real
from typing import Dict, Sequence, Tuple, Union

NUM_STAGES = 4
BASE_CHANNELS = (64, 128, 256, 512)
ARCH_KEYS = ('num_blocks', 'width_factor', 'num_conv_branches', 'num_se_blocks')

ARCH_ZOO: Dict[str, dict] = {
    's0': dict(num_blocks=(2, 8, 10, 1), width_factor=(0.75, 1.0, 1.0, 2.0),
               num_conv_branches=(4, 4, 4, 4), num_se_blocks=(0, 0, 0, 0)),
    's1': dict(num_blocks=(2, 8, 10, 1), width_factor=(1.5, 1.5, 2.0, 2.5),
               num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 0, 0)),
    's2': dict(num_blocks=(2, 8, 10, 1), width_factor=(1.5, 2.0, 2.5, 4.0),
               num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 0, 0)),
    's3': dict(num_blocks=(2, 8, 10, 1), width_factor=(2.0, 2.5, 3.0, 4.0),
               num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 0, 0)),
    's4': dict(num_blocks=(2, 8, 10, 1), width_factor=(3.0, 3.5, 3.5, 4.0),
               num_conv_branches=(1, 1, 1, 1), num_se_blocks=(0, 0, 5, 1)),
}
ARCHS: Tuple[str, ...] = tuple(ARCH_ZOO)  # 's0' .. 's4'


def arch_settings(arch: Union[str, dict]) -> dict:
    """Returns the arch row for a name, or checks a custom arch dict.

    Raises:
        ValueError: For an unknown name, missing or unknown keys, sequences not
            of length 4, or values out of range.
        TypeError: For an arch that is neither a str nor a dict.
    """
    if isinstance(arch, str):
        if arch not in ARCH_ZOO:
            raise ValueError(f'arch {arch!r} is not one of {list(ARCHS)} (or a dict)')
        return ARCH_ZOO[arch]
    if not isinstance(arch, dict):
        raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}: {arch!r}')
    missing = [key for key in ARCH_KEYS if key not in arch]
    unknown = [key for key in arch if key not in ARCH_KEYS]
    if missing or unknown:
        raise ValueError(f'arch dict must have exactly the keys {list(ARCH_KEYS)}; '
                         f'missing {missing}, unknown {unknown}')
    for key in ARCH_KEYS:
        value = arch[key]
        if not isinstance(value, (list, tuple)) or len(value) != NUM_STAGES:
            raise ValueError(f'arch[{key!r}] must be a list of {NUM_STAGES} values (one per stage), got {value!r}')
    for key in ('num_blocks', 'num_conv_branches'):
        if not all(isinstance(v, int) and v >= 1 for v in arch[key]):
            raise ValueError(f'arch[{key!r}] must hold ints >= 1, got {arch[key]!r}')
    if not all(isinstance(v, Real) and v > 0 for v in arch['width_factor']):
        raise ValueError(f"arch['width_factor'] must hold positive numbers, got {arch['width_factor']!r}")
    for stage, (num_se, num_blocks) in enumerate(zip(arch['num_se_blocks'], arch['num_blocks'])):
        if not isinstance(num_se, int) or not 0 <= num_se <= num_blocks:
            raise ValueError(f"arch['num_se_blocks'][{stage}] = {num_se!r} must be an int in [0, num_blocks] = "
                             f'[0, {num_blocks}]')
    return {key: tuple(arch[key]) for key in ARCH_KEYS}


def arch_channels(arch: Union[str, dict]) -> Tuple[int, ...]:
    """Output channels of the 4 stages (index i is stage i, as ``out_indices`` counts), e.g. (48, 128, 256, 1024)."""
    width_factor = arch_settings(arch)['width_factor']
    return tuple(int(base * factor) for base, factor in zip(BASE_CHANNELS, width_factor))


def stem_channels(arch: Union[str, dict]) -> int:
    """Output channels of the stem (``stage0``), e.g. 48 for 's0': the first stage's, at most 64."""
    return min(64, arch_channels(arch)[0])


def check_out_indices(out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
    """Normalizes ``out_indices`` to a tuple of stage indices in [0, 3]; a stage named twice is refused."""
    indices = (out_indices, ) if isinstance(out_indices, int) else out_indices
    if (not isinstance(indices, Sequence) or len(indices) == 0 or not all(
            isinstance(i, int) and not isinstance(i, bool) and -NUM_STAGES <= i < NUM_STAGES for i in indices)):
        raise ValueError(f'out_indices must be an int or a non-empty sequence of ints in '
                         f'[{-NUM_STAGES}, {NUM_STAGES - 1}], got {out_indices!r}')
    stages = [i % NUM_STAGES for i in indices]
    if len(set(stages)) < len(stages):
        raise ValueError(f'out_indices {out_indices!r} names a stage twice: each stage gives one output')
    return tuple(sorted(stages))


def check_flag(name: str, value: object) -> bool:
    """Checks that ``value`` is a bool (``'yes'`` or ``1`` is not taken for True), naming it in the error."""
    if not isinstance(value, bool):
        raise ValueError(f'{name} must be True or False, got {value!r}')
    return value


def check_stage_ints(name: str, values: Sequence[int]) -> Tuple[int, ...]:
    """Checks per-stage ``strides``/``dilations``: 4 positive ints."""
    if (not isinstance(values, Sequence) or len(values) != NUM_STAGES
            or not all(isinstance(v, int) and v >= 1 for v in values)):
        raise ValueError(f'{name} must be a sequence of {NUM_STAGES} positive ints (one per stage), got {values!r}')
    return tuple(values)


def check_positive_int(name: str, value: object) -> int:
    """Checks that ``value`` is a positive int (not a bool), naming it in the error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return value
