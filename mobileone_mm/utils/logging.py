"""mmengine's logger, quiet where it would print a line per parameter."""
import contextlib
import logging
from typing import Iterator

from mmengine.logging import MMLogger


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
