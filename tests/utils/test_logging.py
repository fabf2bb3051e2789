"""mmengine's logger for the tools: the stack's known noise off the console and in the log file."""
import io
import logging

import pytest
from mmengine.logging import MMLogger

from mobileone_mm import MobileOne
from mobileone_mm.utils.logging import quiet_console, quiet_console_with_log_file, quiet_mmengine_logger

ENVIRONMENT_DUMP = '\n' + '-' * 60 + '\nSystem environment:\n    sys.platform: linux'
REGISTRY_FALLBACK = 'Failed to search registry with scope "mmpretrain" in the "Codebases" registry tree.'


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


def test_quiet_console_keeps_the_noise_in_the_file_only(tmp_path):
    logger = logging.getLogger('mobileone_mm_test_quiet_console')
    console = logging.StreamHandler(io.StringIO())
    log_file = logging.FileHandler(tmp_path / 'run.log')
    logger.addHandler(console)
    logger.addHandler(log_file)
    assert quiet_console(quiet_console(logger)) is logger
    assert len(console.filters) == 1 and not log_file.filters  # once, however often it is called
    for message in (ENVIRONMENT_DUMP, REGISTRY_FALLBACK, 'Epoch(test) [2/2] accuracy/top1: 93.3'):
        logger.warning(message)
    log_file.close()
    assert console.stream.getvalue() == 'Epoch(test) [2/2] accuracy/top1: 93.3\n'
    assert (tmp_path / 'run.log').read_text().count('\n') == 6


def test_log_file_lands_in_the_work_dir_and_a_refused_run_leaves_none(tmp_path):
    work_dir = tmp_path / 'work_dir'
    with quiet_console_with_log_file(str(work_dir), 'deploy.log'):
        work_dir.mkdir()
        MMLogger.get_instance('mmdeploy').warning(REGISTRY_FALLBACK)
    assert REGISTRY_FALLBACK in (work_dir / 'deploy.log').read_text()
    refused = tmp_path / 'refused'
    with pytest.raises(SystemExit), quiet_console_with_log_file(str(refused), 'deploy.log'):
        raise SystemExit('error: bad input')
    assert not refused.exists()
    assert not any(isinstance(h, logging.FileHandler) for h in MMLogger.get_instance('mmdeploy').handlers)
