"""The ``mobileone_mm`` registry scope and the registration in mmdet and mmseg.

``MODELS`` and ``HOOKS`` (``type='mobileone_mm.PreciseBNHook'``) are children of mmengine's root registry, so
``type='mobileone_mm.MobileOne'`` resolves from mmpretrain, mmdet and mmseg alike. mmdet and mmseg also get the plain
name ``type='MobileOne'``; mmpretrain keeps its own ``MobileOne`` under that name.
"""
import importlib

from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import Registry

MODELS = Registry('model', parent=MMENGINE_MODELS, scope='mobileone_mm', locations=['mobileone_mm'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='mobileone_mm', locations=['mobileone_mm'])

FRAMEWORKS_WITH_PLAIN_NAME = ('mmdet', 'mmseg')


def register_backbone(backbone: type) -> type:
    """Registers ``backbone`` in this scope and, by its plain name, in mmdet and mmseg when installed.

    Used as a class decorator; returns the class.
    """
    MODELS.register_module(module=backbone)
    for framework in FRAMEWORKS_WITH_PLAIN_NAME:
        try:
            framework_models = importlib.import_module(f'{framework}.registry').MODELS
        except ImportError:
            continue
        framework_models.register_module(module=backbone)
    return backbone
