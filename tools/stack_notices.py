"""Deprecation notices of the pinned stack that a user of the tools can do nothing about.

Silenced at each tool's entry, before the imports that trigger them, rather
than in the library: setuptools' on mmengine's ``import pkg_resources``
(printed four times), mmseg's on its own heads' ``build_loss``.
"""
import warnings

STACK_NOTICES = ('pkg_resources is deprecated', '``build_loss`` would be deprecated')


def silence_stack_notices() -> None:
    """Ignores :data:`STACK_NOTICES` in this process."""
    for message in STACK_NOTICES:
        warnings.filterwarnings('ignore', message=message, category=UserWarning)
