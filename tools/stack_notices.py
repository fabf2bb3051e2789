"""Deprecation notices of the pinned stack that a user of the tools can do nothing about.

Silenced at each tool's entry, before the imports that trigger them, rather
than in the library: setuptools' on mmengine's ``import pkg_resources``
(printed four times), mmseg's on its own heads' ``build_loss``, and torch's
log line on torchao (which ExecuTorch imports) registering an Enum with its
pytree.
"""
import logging
import warnings

STACK_NOTICES = ('pkg_resources is deprecated', '``build_loss`` would be deprecated')


def silence_stack_notices() -> None:
    """Ignores :data:`STACK_NOTICES` and torch's pytree notice in this process."""
    for message in STACK_NOTICES:
        warnings.filterwarnings('ignore', message=message, category=UserWarning)
    logging.getLogger('torch.utils._pytree').setLevel(logging.ERROR)
