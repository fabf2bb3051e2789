"""What the tools share on the command line: ``--cfg-options`` and one-line errors for the user's mistakes.

A tool runs its set-up (reading the config, the checkpoint and the data,
building the runner's parts) inside :func:`one_line_errors`: a known user
error ends the tool with ``error: <what is wrong>`` and exit status 1 instead
of a traceback; ``MOBILEONE_MM_TRACEBACK=1`` shows the traceback for debugging.
"""
import argparse
import contextlib
import os
import pickle
from typing import Iterator, Type

from mmengine.config import DictAction

TRACEBACK_VARIABLE = 'MOBILEONE_MM_TRACEBACK'
# What bad input raises while a tool sets itself up: a bad value or type, a missing or unreadable file, a file that
# is no checkpoint, a config with a syntax error, a registry name that does not exist, an upstream config assertion.
USER_ERRORS = (ValueError, TypeError, OSError, pickle.UnpicklingError, SyntaxError, KeyError, AssertionError)


class CfgOptions(DictAction):
    """mmengine's ``DictAction`` for ``--cfg-options``, which says which item is not ``KEY=VALUE``."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values, option_string=None):
        for item in values:
            if '=' not in item or not item.split('=', 1)[0]:  # mmengine's own error: "not enough values to unpack"
                raise SystemExit(f'error: {option_string} {item!r} is not KEY=VALUE (e.g. train_cfg.max_epochs=12)')
        super().__call__(parser, namespace, values, option_string)


def add_cfg_options(parser: argparse.ArgumentParser, help: str = 'override config settings, e.g. '
                    'train_cfg.max_epochs=1 model.backbone.init_cfg=None') -> None:
    """Adds ``--cfg-options KEY=VALUE ...`` as the OpenMMLab tools take it."""
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptions, help=help)


@contextlib.contextmanager
def one_line_errors(*more_errors: Type[BaseException]) -> Iterator[None]:
    """Turns :data:`USER_ERRORS` (and ``more_errors``) raised in the block into ``error: <message>``, exit status 1.

    Set ``MOBILEONE_MM_TRACEBACK=1`` to get the traceback instead.
    """
    try:
        yield
    except (*USER_ERRORS, *more_errors) as error:
        if os.environ.get(TRACEBACK_VARIABLE):
            raise
        raise SystemExit(f'error: {one_line(error)}') from None


def one_line(error: BaseException) -> str:
    """The error's message on one line, with its type where the message alone would not say what it is."""
    message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    message = ' '.join(str(message).split())
    if isinstance(error, (KeyError, AssertionError, SyntaxError)) or not message:
        message = f'{type(error).__name__}: {message}' if message else type(error).__name__
    return message
