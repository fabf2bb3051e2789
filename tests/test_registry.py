import pytest
from mmengine.registry import DefaultScope

import mobileone_mm
from mobileone_mm.registry import register_backbone


def framework_models(scope):
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    elif scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return MODELS


def build_backbone(scope, type_name):
    with DefaultScope.overwrite_default_scope(scope):
        return framework_models(scope).build(dict(type=type_name, arch='s0', out_indices=(1, 2, 3)))


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_plain_name_resolves_to_this_backbone_in_mmdet_and_mmseg(scope):
    assert type(build_backbone(scope, 'MobileOne')) is mobileone_mm.MobileOne


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet', 'mmseg'])
def test_scoped_name_resolves_from_every_framework(scope):
    backbone = build_backbone(scope, 'mobileone_mm.MobileOne')
    assert type(backbone) is mobileone_mm.MobileOne
    assert backbone.out_channels == (128, 256, 1024)


def test_mmpretrain_keeps_its_own_mobileone():
    from mmpretrain.models.backbones import MobileOne as MMPretrainMobileOne
    assert type(build_backbone('mmpretrain', 'MobileOne')) is MMPretrainMobileOne


def test_this_scope_builds_directly():
    with DefaultScope.overwrite_default_scope('mobileone_mm'):
        assert type(mobileone_mm.MODELS.build(dict(type='MobileOne'))) is mobileone_mm.MobileOne


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg'])
def test_another_plugins_mobileone_keeps_the_plain_name_with_a_warning(scope, monkeypatch):
    class MobileOne:  # another plugin's, registered in the framework first
        pass

    models = framework_models(scope)
    monkeypatch.setitem(models._module_dict, 'MobileOne', MobileOne)
    with pytest.warns(UserWarning, match=f"{scope} already registers MobileOne as .*test_registry.*MobileOne: "
                      "type='MobileOne' keeps building that one there; this package's is "
                      "type='mobileone_mm.MobileOne'"):
        register_backbone(mobileone_mm.MobileOne)
    assert models.get('MobileOne') is MobileOne
    assert type(build_backbone(scope, 'mobileone_mm.MobileOne')) is mobileone_mm.MobileOne


def test_registering_again_replaces_the_old_class_quietly(recwarn):
    reloaded = type('MobileOne', (mobileone_mm.MobileOne, ), dict(__module__=mobileone_mm.MobileOne.__module__,
                                                                   __qualname__='MobileOne'))
    try:
        register_backbone(reloaded)
        assert not recwarn.list
        for scope in ('mmdet', 'mmseg'):
            assert framework_models(scope).get('MobileOne') is reloaded
        assert mobileone_mm.MODELS.get('MobileOne') is reloaded
    finally:
        register_backbone(mobileone_mm.MobileOne)
