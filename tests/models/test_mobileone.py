import copy

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS as MMSEG_MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from mobileone_mm import MobileOne, MobileOneBlock, arch_channels
from mobileone_mm.testing.equivalence import (blockwise_reparameterization_error, compare_with_mmpretrain,
                                              reparameterization_error)
from mobileone_mm.testing.weights import make_realistic_
from mobileone_mm.utils.numerics import relative_error

ARCHS = ['s0', 's1', 's2', 's3', 's4']
STAGE_CHANNELS = {'s0': (48, 128, 256, 1024), 's1': (96, 192, 512, 1280), 's2': (96, 256, 640, 2048),
                  's3': (128, 320, 768, 2048), 's4': (192, 448, 896, 2048)}
# Backbone parameters after fusion, in millions, as mmpretrain's deploy models count them.
DEPLOY_PARAMS_M = {'s0': 1.05, 's1': 3.48, 's2': 5.76, 's3': 8.03, 's4': 12.79}
OUTPUT_STRIDES = {
    32: dict(strides=(2, 2, 2, 2), dilations=(1, 1, 1, 1)),
    16: dict(strides=(2, 2, 2, 1), dilations=(1, 1, 1, 2)),
    8: dict(strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4)),
}
TOLERANCE = 1e-5  # float32, one block on the activations it sees
# Whole networks in float64 judge the fusion itself: a deep random network amplifies rounding about 1e6-fold
# (float32: 1e-7 -> up to 1e-1, float64: 1e-16 -> 1e-10), while a wrong fusion is off by 1e-2 or more.
FLOAT64_TOLERANCE = 1e-8


BLOCK_KINDS = {
    '3x3 depthwise, 4 branches': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=4, groups=16),
    '1x1 pointwise, 4 branches': dict(in_channels=16, out_channels=16, kernel_size=1, num_convs=4),
    '1x1 pointwise, widening': dict(in_channels=16, out_channels=32, kernel_size=1, num_convs=2),
    '3x3 dense stem, stride 2': dict(in_channels=3, out_channels=16, kernel_size=3, num_convs=1, stride=2),
    '3x3 depthwise, stride 2': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=2, stride=2, groups=16),
    '3x3 depthwise, dilation 2': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=3, dilation=2,
                                      groups=16),
    '3x3 depthwise, dilation 4': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=1, dilation=4,
                                      groups=16),
    '3x3 depthwise, SE': dict(in_channels=32, out_channels=32, kernel_size=3, num_convs=2, groups=32,
                              se_cfg=dict(ratio=16)),
    '1x1 pointwise, SE': dict(in_channels=32, out_channels=32, kernel_size=1, num_convs=1, se_cfg=dict(ratio=16)),
    '3x3 dense, SyncBN': dict(in_channels=8, out_channels=8, kernel_size=3, num_convs=2,
                              norm_cfg=dict(type='SyncBN')),
    '3x3 depthwise, SyncBN': dict(in_channels=8, out_channels=8, kernel_size=3, num_convs=2, groups=8,
                                  norm_cfg=dict(type='SyncBN')),
}


@pytest.mark.parametrize('kind', BLOCK_KINDS)
def test_block_reparameterization_is_exact(kind):
    block = make_realistic_(MobileOneBlock(**BLOCK_KINDS[kind]))
    x = torch.randn(2, block.in_channels, 20, 20)
    expected = block(x)
    block.switch_to_deploy()
    assert relative_error(block(x), expected) <= TOLERANCE
    assert set(dict(block.named_children())) == {'se', 'branch_reparam', 'act'}
    assert not any(isinstance(m, _BatchNorm) for m in block.modules())


def test_block_with_syncbn_fuses_after_revert_sync_batchnorm():
    block = make_realistic_(MobileOneBlock(16, 16, 3, num_convs=2, groups=16, norm_cfg=dict(type='SyncBN')))
    x = torch.randn(2, 16, 12, 12)
    expected = block(x)
    reverted = revert_sync_batchnorm(block)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in reverted.modules())
    reverted.switch_to_deploy()
    assert relative_error(reverted(x), expected) <= TOLERANCE


@pytest.mark.parametrize('stride, size', [(1, 12), (2, 12), (2, 7)])
def test_depthwise_scale_branch_as_a_product_computes_the_1x1_conv(stride, size):
    # float64: the weight's gradient sums batch-norm gradients that cancel, and float32 rounds them differently.
    block = make_realistic_(MobileOneBlock(16, 16, 3, num_convs=1, stride=stride, groups=16)).double().train()
    x = torch.randn(2, 16, size, size, dtype=torch.float64, requires_grad=True)
    as_product, as_conv = block.scale_branch(x), block.branch_scale(x)
    assert torch.equal(as_product, as_conv)
    grad, inputs = torch.randn_like(as_conv), (x, block.branch_scale.conv.weight)
    for product_grad, conv_grad in zip(torch.autograd.grad(as_product, inputs, grad),
                                       torch.autograd.grad(as_conv, inputs, grad)):
        torch.testing.assert_close(product_grad, conv_grad)


def test_block_switch_to_deploy_is_idempotent_and_matches_deploy_build():
    block = make_realistic_(MobileOneBlock(16, 16, 3, num_convs=4, groups=16))
    x = torch.randn(1, 16, 10, 10)
    block.switch_to_deploy()
    once = block(x)
    block.switch_to_deploy()
    torch.testing.assert_close(block(x), once, rtol=0, atol=0)
    built_fused = MobileOneBlock(16, 16, 3, num_convs=4, groups=16, deploy=True).eval()
    built_fused.load_state_dict(block.state_dict(), strict=True)
    torch.testing.assert_close(built_fused(x), once, rtol=0, atol=0)


def test_block_rejects_norms_it_cannot_fuse():
    with pytest.raises(TypeError, match='GroupNorm.*batch norms'):
        MobileOneBlock(16, 16, 3, num_convs=1, norm_cfg=dict(type='GN', num_groups=4))


@pytest.mark.parametrize('arch', ARCHS)
def test_same_state_dict_as_mmpretrain_gives_same_outputs(arch):
    float32 = compare_with_mmpretrain(arch, torch.randn(2, 3, 64, 64))
    float64 = compare_with_mmpretrain(arch, torch.randn(2, 3, 64, 64, dtype=torch.float64))
    print(f'{arch}: relative error against mmpretrain, float32 {float32}, float64 {float64}')
    assert float32['train'] == 0.0  # bit for bit
    assert max(float64.values()) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize('arch', ARCHS)
def test_state_dict_keys_match_mmpretrain_train_and_deploy(arch):
    from mmpretrain.models.backbones import MobileOne as MMPretrainMobileOne
    reference, model = MMPretrainMobileOne(arch), MobileOne(arch)
    assert list(model.state_dict()) == list(reference.state_dict())
    reference.switch_to_deploy()
    model.switch_to_deploy()
    assert list(model.state_dict()) == list(reference.state_dict())
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in reference.state_dict().items()}


@pytest.mark.parametrize('output_stride', OUTPUT_STRIDES)
@pytest.mark.parametrize('arch', ARCHS)
def test_output_shapes_and_channels(arch, output_stride):
    model = MobileOne(arch, out_indices=(0, 1, 2, 3), **OUTPUT_STRIDES[output_stride]).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 64, 64))
    assert tuple(out.shape[1] for out in outs) == STAGE_CHANNELS[arch] == model.out_channels
    assert arch_channels(arch) == STAGE_CHANNELS[arch]
    sizes = [max(64 // 2 ** (i + 2), 64 // output_stride) for i in range(4)]
    assert [tuple(out.shape[2:]) for out in outs] == [(s, s) for s in sizes]


@pytest.mark.parametrize('output_stride', [32, 8])
@pytest.mark.parametrize('arch', ARCHS)
def test_backbone_reparameterization_is_exact(arch, output_stride):
    model = make_realistic_(MobileOne(arch, out_indices=(0, 1, 2, 3), **OUTPUT_STRIDES[output_stride]))
    x = torch.randn(1, 3, 64, 64)
    assert blockwise_reparameterization_error(model, x) <= TOLERANCE
    assert reparameterization_error(model.double(), x.double()) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize('arch', ARCHS)
def test_deploy_parameter_count_matches_mmpretrain(arch):
    from mmpretrain.models.backbones import MobileOne as MMPretrainMobileOne
    reference = MMPretrainMobileOne(arch)
    reference.switch_to_deploy()
    model = MobileOne(arch)
    model.switch_to_deploy()
    count = sum(p.numel() for p in model.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    assert round(count / 1e6, 2) == DEPLOY_PARAMS_M[arch]
    assert count == sum(p.numel() for p in MobileOne(arch, deploy=True).parameters())


def test_switch_to_deploy_is_idempotent_and_leaves_no_training_branch():
    model = make_realistic_(MobileOne('s4', out_indices=(2, 3)))
    x = torch.randn(1, 3, 64, 64)
    model.switch_to_deploy()
    with torch.no_grad():
        once = model(x)
        model.switch_to_deploy()
        torch.testing.assert_close(model(x), once, rtol=0, atol=0)
    assert model.deploy
    assert not any('branch_conv_list' in k or 'branch_scale' in k or 'branch_norm' in k for k in model.state_dict())
    assert not any(isinstance(m, _BatchNorm) for m in model.modules())


@pytest.mark.parametrize('deploy', [False, True])
def test_fused_inference_on_cpu_computes_channels_last_and_returns_contiguous_outputs(deploy):
    model = make_realistic_(MobileOne('s4', out_indices=(0, 1, 2, 3))).double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    if deploy:
        model.switch_to_deploy()
    with torch.no_grad():
        expected = model.stage0(x)  # the stages called one by one, in NCHW
        for stage in model.stages:
            expected = getattr(model, stage)(expected)
    layouts = []
    model.stage3.register_forward_pre_hook(
        lambda module, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
    with torch.no_grad():
        outs = model(x)
    assert layouts == [deploy]
    assert all(out.is_contiguous() for out in outs)
    assert relative_error(outs[-1], expected) <= 1e-12
    model.train()
    model(x)
    assert layouts == [deploy, deploy]  # the fused form in train mode too: one layout, the same outputs


def test_fused_model_gives_the_same_outputs_in_train_and_eval_mode():
    model = make_realistic_(MobileOne('s0', out_indices=(0, 1, 2, 3)))
    model.switch_to_deploy()
    fused = MobileOne('s0', out_indices=(0, 1, 2, 3), deploy=True)
    fused.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = model.eval()(x)
        for actual in (model.train()(x), fused.train()(x), fused.eval()(x)):
            assert all(torch.equal(a, e) for a, e in zip(actual, expected))


def test_fused_form_traces_with_torch_fx():
    model = make_realistic_(MobileOne('s0', out_indices=(1, 3)))
    model.switch_to_deploy()
    traced = torch.fx.symbolic_trace(model)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(traced(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize('norm_type', ['BN', 'SyncBN'])
def test_fused_state_dict_loads_into_deploy_model(norm_type):
    model = make_realistic_(MobileOne('s1', out_indices=(0, 1, 2, 3), norm_cfg=dict(type=norm_type)))
    x = torch.randn(1, 3, 64, 64)
    model.switch_to_deploy()
    deployed = MobileOne('s1', out_indices=(0, 1, 2, 3), deploy=True).eval()
    deployed.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert relative_error(deployed(x), model(x)) == 0.0


def test_syncbn_backbone_fuses_directly_and_after_revert_sync_batchnorm():
    model = make_realistic_(MobileOne('s0', norm_cfg=dict(type='SyncBN'))).double()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    assert reparameterization_error(model, x) <= FLOAT64_TOLERANCE
    reverted = revert_sync_batchnorm(model)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in reverted.modules())
    assert reparameterization_error(reverted, x) <= FLOAT64_TOLERANCE


def test_train_returns_module_and_frozen_stages_stay_frozen():
    model = MobileOne('s0', frozen_stages=2)
    assert model.train() is model
    assert model.eval() is model
    model.train()
    for name in ['stage0', 'stage1', 'stage2']:
        stage = getattr(model, name)
        assert not stage.training
        assert not any(p.requires_grad for p in stage.parameters())
    for name in ['stage3', 'stage4']:
        stage = getattr(model, name)
        assert stage.training
        assert all(p.requires_grad for p in stage.parameters())


def test_frozen_stem_only_and_no_freezing():
    assert all(p.requires_grad for p in MobileOne('s0', frozen_stages=-1).train().parameters())
    model = MobileOne('s0', frozen_stages=0).train()
    assert not any(p.requires_grad for p in model.stage0.parameters())
    assert all(p.requires_grad for p in model.stage1.parameters())


def test_norm_eval_keeps_running_statistics():
    model = MobileOne('s0', norm_eval=True).train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    before = [m.running_mean.clone() for m in norms]
    model(torch.randn(2, 3, 64, 64))
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, norms))
    assert all(p.requires_grad for p in model.parameters())


BAD_ARGUMENTS = [
    (dict(arch='S3'), ValueError, "arch 'S3' is not one of"),
    (dict(arch='s9'), ValueError, "arch 's9' is not one of"),
    (dict(arch=3), TypeError, 'arch must be a str or a dict'),
    (dict(arch=dict(num_blocks=[2, 8, 10, 1], width_factor=[1, 1, 1, 1], num_conv_branches=[1, 1, 1, 1])),
     ValueError, r"missing \['num_se_blocks'\]"),
    (dict(arch=dict(num_blocks=[2, 8, 10], width_factor=[1, 1, 1, 1], num_conv_branches=[1, 1, 1, 1],
                    num_se_blocks=[0, 0, 0, 0])), ValueError, r"arch\['num_blocks'\] must be a list of 4"),
    (dict(arch=dict(num_blocks=[2, 8, 10, 1], width_factor=[1, 1, 1, 1], num_conv_branches=[1, 1, 1, 1],
                    num_se_blocks=[0, 0, 11, 0])), ValueError, r"arch\['num_se_blocks'\]\[2\] = 11"),
    (dict(arch=dict(num_blocks=[2, 8, 10, 1], width_factor=[1, 1, 1, -1], num_conv_branches=[1, 1, 1, 1],
                    num_se_blocks=[0, 0, 0, 0])), ValueError, 'width_factor'),
    (dict(out_indices=(4, )), ValueError, r'out_indices .* got \(4,\)'),
    (dict(out_indices=-5), ValueError, 'out_indices .* got -5'),
    (dict(out_indices=()), ValueError, 'out_indices'),
    (dict(out_indices=(1, 2, 3, 3)), ValueError, r'out_indices \(1, 2, 3, 3\) names a stage twice'),
    (dict(out_indices=(3, -1)), ValueError, r'out_indices \(3, -1\) names a stage twice'),
    (dict(out_indices=(True, 2)), ValueError, r'out_indices .* got \(True, 2\)'),
    (dict(deploy='yes'), ValueError, "deploy must be True or False, got 'yes'"),
    (dict(norm_eval=1), ValueError, 'norm_eval must be True or False, got 1'),
    (dict(merged_training=None), ValueError, 'merged_training must be True or False, got None'),
    (dict(frozen_stages=5), ValueError, r'frozen_stages must be an int in \[-1, 4\], got 5'),
    (dict(frozen_stages=-2), ValueError, 'frozen_stages .* got -2'),
    (dict(strides=(2, 2, 2)), ValueError, r'strides must be a sequence of 4 .* got \(2, 2, 2\)'),
    (dict(strides=(2, 2, 0, 1)), ValueError, 'strides .* positive'),
    (dict(dilations=(1, 1, 2, 4, 8)), ValueError, 'dilations must be a sequence of 4'),
    (dict(dilations=(1, 1, -2, 4)), ValueError, r'dilations .* got \(1, 1, -2, 4\)'),
    (dict(norm_cfg=dict(type='LN')), TypeError, 'batch norms'),
    (dict(in_channels=0), ValueError, 'in_channels must be a positive int, got 0'),
    (dict(in_channels=3.0), ValueError, 'in_channels must be a positive int, got 3.0'),
    (dict(arch='s0', se_cfg=dict(ratio=0)), ValueError, r"se_cfg\['ratio'\] must be a positive int, got 0"),
    (dict(arch='s4', se_cfg=dict(ratio=0)), ValueError, r"se_cfg\['ratio'\] must be a positive int, got 0"),
    (dict(arch='s4', se_cfg=dict(ratio=2.5)), ValueError, r"se_cfg\['ratio'\] must be a positive int, got 2.5"),
]


@pytest.mark.parametrize('kwargs, error, message', BAD_ARGUMENTS)
def test_bad_arguments_fail_at_construction_naming_the_value(kwargs, error, message):
    with pytest.raises(error, match=message):
        MobileOne(**kwargs)


@pytest.mark.parametrize('kernel_size, padding, dilation', [(1, 0, 1), (3, 1, 1), (3, 2, 2), (3, None, 2)])
def test_block_takes_mmpretrains_padding_argument_when_it_is_the_same_padding(kernel_size, padding, dilation):
    block = MobileOneBlock(8, 8, kernel_size, 2, padding=padding, dilation=dilation, groups=8,
                           se_cfg=dict(ratio=4)).eval()
    assert block.padding == dilation * (kernel_size // 2)
    assert block.se_cfg == dict(ratio=4)
    assert block(torch.randn(1, 8, 9, 9)).shape == (1, 8, 9, 9)


@pytest.mark.parametrize('kernel_size, padding, dilation', [(1, 1, 1), (3, 0, 1), (3, 1, 2)])
def test_block_refuses_a_padding_that_does_not_fuse(kernel_size, padding, dilation):
    with pytest.raises(ValueError, match=f'padding={padding} does not keep the size .* only with padding='):
        MobileOneBlock(8, 8, kernel_size, 1, padding=padding, dilation=dilation)


def test_se_layer_refuses_a_ratio_that_is_not_a_positive_int():
    with pytest.raises(ValueError, match='SE ratio must be a positive int, got 0'):
        MobileOneBlock(8, 8, 1, 1, se_cfg=dict(ratio=0))


def test_pretrained_is_taken_as_mmsegs_backbones_take_it():
    assert MobileOne('s0', pretrained='work_dirs/classifier/epoch_10.pth').init_cfg == dict(
        type='Pretrained', checkpoint='work_dirs/classifier/epoch_10.pth')
    with pytest.raises(ValueError, match=r"pretrained='open-mmlab://resnet50_v1c' names another network's weights "
                       r'.* set model.pretrained=None'):
        MobileOne('s0', pretrained='open-mmlab://resnet50_v1c')
    with pytest.raises(ValueError, match='MobileOne got both pretrained=.* and init_cfg=.*; give one'):
        MobileOne('s0', pretrained='a.pth', init_cfg=dict(type='Pretrained', checkpoint='b.pth'))


UPERNET_WITH_MOBILEONE = '''
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'
custom_imports = dict(imports=['mobileone_mm'], allow_failed_imports=False)
model = dict(
    backbone=dict(_delete_=True, type='MobileOne', arch='s0', out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_channels=[48, 128, 256, 1024]),
    auxiliary_head=dict(in_channels=256))
'''


def test_a_backbone_swapped_into_an_mmseg_resnet_config_names_the_segmentors_pretrained(tmp_path):
    """mmseg's EncoderDecoder hands its ``pretrained`` (ResNet's ImageNet weights) to the backbone."""
    (tmp_path / 'upernet_mobileone.py').write_text(UPERNET_WITH_MOBILEONE)
    cfg = Config.fromfile(str(tmp_path / 'upernet_mobileone.py'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        with pytest.raises(ValueError, match=r"pretrained='open-mmlab://resnet50_v1c' names another network's"):
            MMSEG_MODELS.build(copy.deepcopy(cfg.model))  # it sets model.backbone.pretrained in the config
        cfg.model.pretrained = None
        assert isinstance(MMSEG_MODELS.build(cfg.model).backbone, MobileOne)
