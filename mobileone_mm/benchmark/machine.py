"""What the machine is: its processor, its instruction-set flags and its fp32 peak, for the record and the ceiling."""
import platform
import re
from typing import NamedTuple, Optional, Set

FMA_UNITS_PER_CORE = 2  # Intel Xeon Scalable and AMD Zen cores issue two FMAs per cycle; cpuinfo does not say
FP32_LANES = (('avx512f', 16), ('avx2', 8))  # fp32 lanes of one FMA instruction, widest first
NATIVE_BF16_FLAGS = ('amx_bf16', 'avx512_bf16')  # x86 flags of bf16 arithmetic in hardware
RECORDED_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_int8', 'bf16')  # in the record


def cpuinfo_field(name: str) -> Optional[str]:
    """The first ``name : value`` of ``/proc/cpuinfo``, or None where there is none."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(':')
                if key.strip() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def cpu_name() -> str:
    return cpuinfo_field('model name') or platform.processor()


def cpu_flags() -> Set[str]:
    """The processor's instruction-set flags (x86 ``flags``, Arm ``Features``); empty where unreadable."""
    return set((cpuinfo_field('flags') or cpuinfo_field('Features') or '').split())


def cpu_native_bf16() -> Optional[str]:
    """The flags by which this CPU computes bf16 in hardware (e.g. ``'amx_bf16'``), or None.

    Without them oneDNN still runs bf16 convs (``torch.autocast``) by
    converting to fp32, which measures the emulation, not the hardware.
    """
    flags = cpu_flags()
    native = [flag for flag in NATIVE_BF16_FLAGS if flag in flags]
    if 'bf16' in flags and platform.machine() in ('aarch64', 'arm64'):
        native.append('bf16')
    return ', '.join(native) or None


MAX_CLOCK_FILE = '/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq'  # kHz; absent in many VMs


class Clock(NamedTuple):
    """A core clock, and whether no core runs faster (the maximum turbo clock)."""

    ghz: float
    is_maximum: bool
    source: str


def cpu_clock() -> Optional[Clock]:
    """cpufreq's maximum clock, else the nominal one (``... @ 2.80GHz``), else cpuinfo's current ``cpu MHz``.

    Only the first is a maximum: turbo runs above the nominal and the current
    clock (a GEMM measured 127 % of a "peak" at cpuinfo's ``cpu MHz``).
    """
    try:
        with open(MAX_CLOCK_FILE) as file:
            return Clock(int(file.read()) / 1e6, True, 'cpufreq maximum')
    except (OSError, ValueError):
        pass
    nominal = re.search(r'@\s*([\d.]+)\s*GHz', cpu_name())
    if nominal:
        return Clock(float(nominal.group(1)), False, 'nominal')
    mhz = cpuinfo_field('cpu MHz')
    return Clock(float(mhz) / 1e3, False, "cpuinfo's current") if mhz else None


class Peak(NamedTuple):
    """The fp32 FMA rate of ``threads`` cores at a clock, how it was computed, and whether it is an upper bound."""

    gflops_per_s: Optional[float]
    formula: str
    is_upper_bound: bool = False


def cpu_fp32_peak(threads: int) -> Peak:
    """cores x FMA units x fp32 lanes x 2 flops x clock, for ``threads`` cores (one thread per core).

    An upper bound only at the maximum clock (:func:`cpu_clock`); at another
    clock a GEMM may come out above it, and the formula says so. Unknown
    (None) where the clock or the vector width cannot be read.
    """
    flags, clock = cpu_flags(), cpu_clock()
    isa, lanes = next(((flag, width) for flag, width in FP32_LANES if flag in flags), (None, None))
    if lanes is None or clock is None:
        return Peak(None, 'unknown: cpuinfo gives no clock or no AVX2/AVX-512 flag')
    formula = (f'{threads} cores x {FMA_UNITS_PER_CORE} FMA units x {lanes} fp32 lanes ({isa}) x 2 x '
               f'{clock.ghz:.2f} GHz ({clock.source} clock)')
    if not clock.is_maximum:
        formula += ': not an upper bound, turbo runs faster'
    return Peak(threads * FMA_UNITS_PER_CORE * lanes * 2 * clock.ghz, formula, clock.is_maximum)
