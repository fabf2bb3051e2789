"""The ``mobileone_mm`` registry scope and the registration in mmdet and mmseg.

``MODELS`` and ``HOOKS`` (``type='mobileone_mm.PreciseBNHook'``) are children of mmengine's root registry, so
``type='mobileone_mm.MobileOne'`` resolves from mmpretrain, mmdet and mmseg alike. mmdet and mmseg also get the plain
name ``type='MobileOne'``; mmpretrain keeps its own ``MobileOne`` under that name, and so does another plugin
that registered a ``MobileOne`` in mmdet or mmseg first.
"""
import importlib
import warnings

from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mobileone_mm', locations=['mobileone_mm'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mobileone_mm', locations=['mobileone_mm'])

FRAMEWORKS_WITH_PLAIN_NAME = ('mmdet', 'mmseg')


def register_backbone(backbone: type) -> type:
    """Registers ``backbone`` in this scope and, by its plain name, in mmdet and mmseg when installed.

    Where another class already holds the plain name in mmdet or mmseg (another
    plugin's ``MobileOne``), that one keeps it, with a warning: this package's
    stays reachable as ``type='mobileone_mm.MobileOne'``. A class of the same
    module and name (this module imported again) replaces its old self.
    Used as a class decorator; returns the class.
    """
    MODELS.register_module(module=backbone, force=True)
    for framework in FRAMEWORKS_WITH_PLAIN_NAME:
        try:
            framework_models = importlib.import_module(f'{framework}.registry').MODELS
        except ImportError:
            continue
        registered = framework_models.module_dict.get(backbone.__name__)
        if registered is None or qualified_name(registered) == qualified_name(backbone):
            framework_models.register_module(module=backbone, force=True)
        else:
            warnings.warn(f"{framework} already registers {backbone.__name__} as {qualified_name(registered)}: "
                          f"type='{backbone.__name__}' keeps building that one there; this package's is "
                          f"type='mobileone_mm.{backbone.__name__}'", stacklevel=2)
    return backbone


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, which stays the same when its module is imported again."""
    return f'{cls.__module__}.{cls.__qualname__}'
