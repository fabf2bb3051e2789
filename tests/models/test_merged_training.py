"""The merged training form computes what the branch-by-branch form computes.

Compared in float64, so that a difference is a difference in the math, not in
rounding: outputs, gradients of the input and of every parameter, running
statistics and state-dict keys.
"""
import copy
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.modules.batchnorm import _BatchNorm

from mobileone_mm import MobileOne, MobileOneBlock
from mobileone_mm.models.merged_training.depthwise_moments import depthwise_patch_moments
from mobileone_mm.models.merged_training.merged_branches import (PatchCovariance, QuadraticForms,
                                                                 merged_branches_forward, patch_moments)
from mobileone_mm.models.merged_training.scale_and_identity import scale_and_identity_forward
from mobileone_mm.testing.weights import make_realistic_

FLOAT64_TOLERANCE = 1e-10
FLOAT32_TOLERANCE = 1e-5

BLOCK_KINDS = {
    '1x1 pointwise, 4 branches, identity': dict(in_channels=16, out_channels=16, kernel_size=1, num_convs=4),
    '1x1 pointwise, widening': dict(in_channels=16, out_channels=32, kernel_size=1, num_convs=3),
    '3x3 dense stem, stride 2': dict(in_channels=3, out_channels=16, kernel_size=3, num_convs=1, stride=2),
    '3x3 dense, identity': dict(in_channels=8, out_channels=8, kernel_size=3, num_convs=2),
    # Merging does not pay off for these; the math must hold all the same.
    '3x3 depthwise, identity': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=4, groups=16),
    '3x3 depthwise, stride 2': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=2, stride=2, groups=16),
    '3x3 depthwise, dilation 2': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=3, dilation=2,
                                      groups=16),
    '3x3 grouped': dict(in_channels=16, out_channels=16, kernel_size=3, num_convs=2, groups=4),
    '1x1 pointwise, SE': dict(in_channels=32, out_channels=32, kernel_size=1, num_convs=2, se_cfg=dict(ratio=16)),
}


@pytest.fixture
def merge_everywhere(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """Merges every block, also where the speed rule would not, and counts the merged forwards."""
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return merged_branches_forward(*args, **kwargs)

    monkeypatch.setattr('mobileone_mm.models.block.merging_pays_off', lambda *args: True)
    monkeypatch.setattr('mobileone_mm.models.block.merged_branches_forward', counted)
    return calls


def merged_and_branch_copies(model: nn.Module) -> Tuple[nn.Module, nn.Module]:
    """Two float64 copies in train mode: the model as built (merged training), and branch by branch."""
    make_realistic_(model)
    model.double().train()
    merged, branches = copy.deepcopy(model), copy.deepcopy(model)
    for module in branches.modules():
        if isinstance(module, MobileOneBlock):
            module.merged_training = False
    return merged, branches


def train_step(model: nn.Module, x: torch.Tensor) -> Tuple[Tuple[torch.Tensor, ...], torch.Tensor]:
    """Outputs of one forward and the gradient of the input for a loss that weighs every output element."""
    x = x.clone().requires_grad_()
    out = model(x)
    outs = out if isinstance(out, tuple) else (out, )
    torch.manual_seed(1)
    sum((o * torch.randn_like(o)).sum() for o in outs).backward()
    return outs, x.grad


def relative(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return ((actual - expected).norm() / expected.norm().clamp(min=1e-30)).item()


def assert_same_training(merged: nn.Module, branches: nn.Module, x: torch.Tensor, steps: int = 2) -> None:
    for _ in range(steps):  # the second step starts from updated running statistics
        merged.zero_grad()
        branches.zero_grad()
        merged_outs, merged_grad = train_step(merged, x)
        branch_outs, branch_grad = train_step(branches, x)
        for actual, expected in zip(merged_outs, branch_outs):
            assert relative(actual, expected) <= FLOAT64_TOLERANCE
        assert relative(merged_grad, branch_grad) <= FLOAT64_TOLERANCE
    branch_params = dict(branches.named_parameters())
    for name, param in merged.named_parameters():
        # A 1x1 depthwise conv before a BN gets a zero gradient (BN undoes its scale): compare against the
        # gradient of the whole model then, not against its own rounding noise.
        scale = max(branch_params[name].grad.norm().item(), 1e-6)
        assert (param.grad - branch_params[name].grad).norm().item() <= FLOAT64_TOLERANCE * scale, name
    branch_state: Dict[str, torch.Tensor] = branches.state_dict()
    assert list(merged.state_dict()) == list(branch_state)
    for name, value in merged.state_dict().items():
        assert relative(value.double(), branch_state[name].double()) <= FLOAT64_TOLERANCE, name


@pytest.mark.parametrize('kind', BLOCK_KINDS)
def test_merged_block_matches_branches(kind, merge_everywhere):
    merged, branches = merged_and_branch_copies(MobileOneBlock(**BLOCK_KINDS[kind]))
    x = torch.randn(3, merged.in_channels, 13, 11, dtype=torch.float64).relu() + 0.1
    assert_same_training(merged, branches, x)
    assert len(merge_everywhere) == 2


@pytest.mark.parametrize('arch', ['s0', 's4'])
def test_merged_backbone_matches_branches(arch, merge_everywhere):
    merged, branches = merged_and_branch_copies(MobileOne(arch, out_indices=(0, 1, 2, 3)))
    assert_same_training(merged, branches, torch.randn(2, 3, 64, 64, dtype=torch.float64), steps=1)
    assert len(merge_everywhere) == sum(isinstance(m, MobileOneBlock) for m in merged.modules())


def test_segmentation_backbone_with_dilations_matches_branches():
    # Output stride 8 (dilations 2 and 4) at a size where the rule merges the depthwise blocks by itself.
    arch = dict(MobileOne.arch_zoo['s0'], num_blocks=(1, 2, 2, 1))
    backbone = MobileOne(arch, out_indices=(0, 1, 2, 3), strides=(2, 2, 1, 1), dilations=(1, 1, 2, 4))
    merged, branches = merged_and_branch_copies(backbone)
    x = torch.randn(1, 3, 240, 232, dtype=torch.float64)
    assert merged.stage4[0].trains_merged(torch.zeros(1, 1, 30, 29))
    assert_same_training(merged, branches, x, steps=1)


@pytest.mark.parametrize('num_convs', [1, 3])
def test_depthwise_scale_and_identity_as_one_affine_map_match_branches(num_convs, monkeypatch):
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return scale_and_identity_forward(*args, **kwargs)

    monkeypatch.setattr('mobileone_mm.models.block.scale_and_identity_forward', counted)
    merged, branches = merged_and_branch_copies(MobileOneBlock(16, 16, 3, num_convs, groups=16))
    x = torch.randn(3, 16, 13, 11, dtype=torch.float64).relu() + 0.1
    assert not merged.trains_merged(x) and merged.trains_scale_and_identity_as_one()
    assert_same_training(merged, branches, x)
    assert len(calls) == 2


def test_s1_backbone_as_trained_matches_branches():
    # No forced merge: the stem merges, the depthwise blocks compute scale and identity as one affine map.
    merged, branches = merged_and_branch_copies(MobileOne('s1', out_indices=(0, 1, 2, 3)))
    assert_same_training(merged, branches, torch.randn(2, 3, 64, 64, dtype=torch.float64))


def test_cumulative_average_momentum_is_followed(merge_everywhere):
    block = MobileOneBlock(8, 8, 3, num_convs=2, groups=8, norm_cfg=dict(type='BN', momentum=None))
    merged, branches = merged_and_branch_copies(block)
    assert_same_training(merged, branches, torch.randn(4, 8, 6, 6, dtype=torch.float64), steps=3)


@pytest.mark.parametrize('kind', ['1x1 pointwise, 4 branches, identity', '3x3 depthwise, identity'])
def test_float32_block_stays_within_tolerance_on_realistic_activations(kind):
    block = make_realistic_(MobileOneBlock(**{**BLOCK_KINDS[kind], 'in_channels': 64, 'out_channels': 64,
                                              'groups': 64 if 'depthwise' in kind else 1})).train()
    reference = copy.deepcopy(block)
    reference.merged_training = False
    x = torch.randn(8, 64, 28, 28).relu() * 3 + 1  # post-ReLU activations with a large mean
    assert block.trains_merged(x)
    assert relative(block(x), reference(x)) <= FLOAT32_TOLERANCE


def test_float32_scale_and_identity_stay_within_tolerance_on_realistic_activations():
    # Against the branch form in float64: in float32 the branch form itself misses the scale weight's gradient by
    # ~4e-5 (batch-norm gradients that cancel), which the closed form here does not sum.
    block = make_realistic_(MobileOneBlock(64, 64, 3, num_convs=1, groups=64)).train()
    reference = copy.deepcopy(block).double()
    reference.merged_training = False
    x = torch.randn(8, 64, 28, 28).relu() * 3 + 1  # post-ReLU activations with a large mean
    assert block.trains_scale_and_identity_as_one()
    torch.manual_seed(0)
    grad = torch.randn(x.shape, dtype=torch.float64)
    results = []
    for model, inputs in ((block, x.clone()), (reference, x.double())):
        inputs.requires_grad_()
        out = model(inputs)
        results.append([out, *torch.autograd.grad(out, [inputs, *model.parameters()], grad.to(out.dtype))])
    for actual, expected in zip(*results):
        assert relative(actual.double(), expected) <= FLOAT32_TOLERANCE


@pytest.mark.parametrize('batch', [1, 3])
def test_patch_covariance_gradient_is_exact_and_its_input_untouched(batch):
    patches = torch.randn(batch, 6, 5, dtype=torch.float64, requires_grad=True)
    before = patches.detach().clone()
    assert torch.autograd.gradcheck(lambda p: PatchCovariance.apply(p, 2), (patches, ))
    assert torch.equal(patches.detach(), before)  # centred in a copy, also where (N, C, L) -> (C, N * L) is a view


def test_quadratic_forms_and_gradients_are_autograds():
    kernels = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    factor = torch.randn(2, 4, 6, dtype=torch.float64)
    cov = (factor @ factor.transpose(-1, -2)).requires_grad_()
    forms = QuadraticForms.apply(kernels, cov)
    expected = ((kernels @ cov) * kernels).sum(-1)
    torch.testing.assert_close(forms, expected)
    grad = torch.randn_like(forms)
    for ours, autograds in zip(torch.autograd.grad(forms, (kernels, cov), grad),
                               torch.autograd.grad(expected, (kernels, cov), grad)):
        torch.testing.assert_close(ours, autograds)


def test_patch_moments_match_unfolded_patches():
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    mean, cov, count = patch_moments(x, kernel_size=3, stride=2, padding=2, dilation=2, groups=3)
    patches = torch.nn.functional.unfold(x, 3, dilation=2, padding=2, stride=2)  # (N, C * 9, L)
    patches = patches.reshape(2, 3, 18, -1).permute(1, 2, 0, 3).reshape(3, 18, -1)
    assert count == patches.shape[-1]
    torch.testing.assert_close(mean, patches.mean(-1))
    torch.testing.assert_close(cov, torch.stack([torch.cov(group, correction=0) for group in patches]))


@pytest.mark.parametrize('kernel_size, dilation, size', [(3, 1, (7, 8)), (3, 2, (9, 6)), (3, 1, (3, 3)),
                                                         (3, 4, (6, 7)), (5, 1, (8, 9)), (3, 2, (3, 2))])
def test_depthwise_patch_moments_and_gradients_match_unfolded_patches(kernel_size, dilation, size):
    x = torch.randn(2, 3, *size, dtype=torch.float64, requires_grad=True)
    mean, cov, count = depthwise_patch_moments(x, kernel_size, dilation)
    patches = F.unfold(x, kernel_size, dilation, dilation * (kernel_size // 2))  # (N, C * k * k, H * W)
    patches = patches.reshape(2, 3, kernel_size**2, -1).permute(1, 2, 0, 3).flatten(2)
    expected_mean = patches.mean(-1)
    expected_cov = torch.stack([torch.cov(channel, correction=0) for channel in patches])
    assert count == patches.shape[-1]
    torch.testing.assert_close(mean, expected_mean)
    torch.testing.assert_close(cov, expected_cov)
    weights = torch.randn_like(mean), torch.randn_like(cov)
    grad, = torch.autograd.grad((mean * weights[0]).sum() + (cov * weights[1]).sum(), x)
    expected_grad, = torch.autograd.grad((expected_mean * weights[0]).sum() + (expected_cov * weights[1]).sum(), x)
    torch.testing.assert_close(grad, expected_grad)


def test_blocks_merge_where_it_is_faster():
    s0, s1 = MobileOne('s0').train(), MobileOne('s1').train()
    image, map56 = torch.zeros(1, 3, 224, 224), torch.zeros(1, 1, 56, 56)
    map28, map14 = torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 14, 14)
    assert s0.stage0.trains_merged(image) and s1.stage0.trains_merged(image)  # stem: conv and scale branch
    assert s0.stage1[1].trains_merged(map56)  # 1x1, 4 branches
    assert not s1.stage1[1].trains_merged(map56)  # 1x1, 1 branch
    assert s0.stage2[2].trains_merged(map28) and not s0.stage3[2].trains_merged(map14)  # depthwise, by map size
    assert not s1.stage1[2].trains_merged(map56)  # depthwise with 1 branch and the scale branch
    assert not s0.stage1[0].trains_merged(map56)  # depthwise, stride 2
    assert not MobileOne('s0', merged_training=False).train().stage1[1].trains_merged(map56)
    assert not s0.eval().stage1[1].trains_merged(map56)


def test_blocks_train_branch_by_branch_on_devices_where_merging_was_not_measured():
    """CUDA until measured there: its inputs are stood in for by the meta device, which has no measurement either."""
    s0 = MobileOne('s0').train()
    assert s0.stage1[1].trains_merged(torch.zeros(1, 1, 56, 56))
    assert not s0.stage1[1].trains_merged(torch.zeros(1, 1, 56, 56, device='meta'))
    assert s0.stage2[2].trains_scale_and_identity_as_one()
    assert not s0.to('meta').stage2[2].trains_scale_and_identity_as_one()


@pytest.mark.parametrize('block_args', [dict(kernel_size=1, num_convs=4), dict(kernel_size=3, num_convs=1, groups=8)],
                         ids=['1x1', 'depthwise'])
@pytest.mark.parametrize('case', ['syncbn', 'eval', 'autocast'])
def test_falls_back_to_branches_where_merging_would_differ(case, block_args, monkeypatch):
    norm_cfg = dict(type='SyncBN') if case == 'syncbn' else dict(type='BN')
    block = make_realistic_(MobileOneBlock(8, 8, norm_cfg=norm_cfg, **block_args))
    block.train(case != 'eval')

    def fail(*args, **kwargs):
        raise AssertionError('the merged form ran')

    monkeypatch.setattr('mobileone_mm.models.block.merged_branches_forward', fail)
    monkeypatch.setattr('mobileone_mm.models.block.scale_and_identity_forward', fail)
    x = torch.randn(2, 8, 5, 5)
    if case == 'syncbn':
        # SyncBN needs a process group in training; its eligibility is what is tested here.
        assert not block._can_merge() and not block.trains_scale_and_identity_as_one()
    elif case == 'autocast':
        with torch.autocast('cpu', dtype=torch.bfloat16):
            block(x)
    else:
        block(x)
    assert all(not isinstance(m, _BatchNorm) or m.num_batches_tracked <= 1 for m in block.modules())


@pytest.mark.parametrize('tracer', ['torch.jit.trace', pytest.param('torch.export', marks=pytest.mark.slow)])
def test_train_mode_traces_and_exports_to_the_eager_training_outputs(tracer, merge_everywhere):
    """jit.trace steps aside to the branch form; torch.export keeps the merged path, its sizes symbolic."""
    arch = dict(num_blocks=(1, 1, 1, 1), width_factor=(0.25, 0.25, 0.25, 0.25), num_conv_branches=(2, 2, 2, 2),
                num_se_blocks=(0, 0, 0, 1))
    model = make_realistic_(MobileOne(arch, out_indices=(0, 1, 2, 3))).double().train()
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    expected = copy.deepcopy(model)(x)
    merge_everywhere.clear()
    if tracer == 'torch.jit.trace':
        traced = torch.jit.trace(copy.deepcopy(model), x, check_trace=False)  # the check reruns it untraced
        assert not merge_everywhere
    else:
        traced = torch.export.export(copy.deepcopy(model), (x, )).module()
        assert merge_everywhere
    for actual, reference in zip(traced(x), expected):
        assert relative(actual, reference) <= FLOAT64_TOLERANCE
