"""mmengine's logger for the tools: quiet on the console where the stack is verbose, complete in the log file."""
import contextlib
import logging
import os.path as osp
import shutil
import tempfile
from typing import Iterator

from mmengine.logging import MMLogger
from mmengine.logging.logger import MMFormatter

# Known-harmless messages of the pinned stack, by a part of their text: the tools keep them in the log file and drop
# them from the console, where they would bury the progress, the warnings that matter and the result.
CONSOLE_NOISE = (
    'System environment:',  # mmengine's runner: the environment dump, some 60 lines
    'Config:\n',  # its dump of the whole config
    'Hooks will be executed in the following order',  # its hook table, some 80 lines
    'Distributed training is not used',  # its notice that SyncBN becomes BN outside distributed training
    'will be deprecated in future',  # mmengine's FileClient notices, which its own transforms trigger
    'The prefix is not set in metric class',  # mmengine, for metrics without one: mmseg's IoUMetric, DumpResults
    'Failed to search registry with scope',  # mmdeploy: it builds from its own registry, as intended
    'get_onnx_config will be deprecated',  # mmdeploy calling its own deprecated API
    'Can not optimize model, please build torchscipt extension',  # mmdeploy's optional pass, not in its wheel
)


class WithoutConsoleNoise(logging.Filter):
    """Drops the records of :data:`CONSOLE_NOISE`."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in CONSOLE_NOISE)


WITHOUT_CONSOLE_NOISE = WithoutConsoleNoise()


def quiet_console(logger: logging.Logger) -> logging.Logger:
    """Drops :data:`CONSOLE_NOISE` from ``logger``'s console handlers; its file handlers keep every record."""
    for handler in logger.handlers:
        if not isinstance(handler, logging.FileHandler) and WITHOUT_CONSOLE_NOISE not in handler.filters:
            handler.addFilter(WITHOUT_CONSOLE_NOISE)
    return logger


@contextlib.contextmanager
def quiet_console_with_log_file(work_dir: str, name: str) -> Iterator[None]:
    """Within the block mmengine's and mmdeploy's loggers also write every record to a log file, their consoles
    without :data:`CONSOLE_NOISE`.

    For tools without a runner (which has a log file of its own). The file is
    written in a temporary folder and ends as ``work_dir/name`` if ``work_dir``
    exists then, so that a run refused before it made ``work_dir`` leaves none.
    """
    loggers = [quiet_console(MMLogger.get_instance(logger_name)) for logger_name in ('mmengine', 'mmdeploy')]
    with tempfile.TemporaryDirectory() as folder:
        handler = logging.FileHandler(osp.join(folder, name), mode='w')
        handler.setFormatter(MMFormatter(color=False, datefmt='%Y/%m/%d %H:%M:%S'))
        for logger in loggers:
            logger.addHandler(handler)
        try:
            yield
        finally:
            for logger in loggers:
                logger.removeHandler(handler)
            handler.close()
            if osp.isdir(work_dir):
                shutil.move(osp.join(folder, name), osp.join(work_dir, name))


@contextlib.contextmanager
def quiet_mmengine_logger() -> Iterator[None]:
    """Only warnings from mmengine's logger within the block.

    Outside a runner (no log file), ``init_weights`` logs every parameter's
    initialisation at INFO: some 4,000 lines per MobileOne.
    """
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
