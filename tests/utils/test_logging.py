"""mmengine's logger made quiet where it prints a line per parameter (tools/check_backbones.py, the benchmark)."""
from mmengine.logging import MMLogger

from mobileone_mm import MobileOne
from mobileone_mm.utils.logging import quiet_mmengine_logger


def printed_lines(capsys) -> int:
    captured = capsys.readouterr()
    return captured.out.count('\n') + captured.err.count('\n')


def test_init_weights_outside_a_runner_prints_nothing_when_quiet(capsys):
    MMLogger.get_instance('mobileone_mm_test_logging')  # the current logger, without a log file
    printed_lines(capsys)
    MobileOne('s0').init_weights()
    assert printed_lines(capsys) > 100  # a line per parameter
    with quiet_mmengine_logger():
        MobileOne('s0').init_weights()
    assert printed_lines(capsys) == 0
