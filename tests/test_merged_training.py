"""The merged training form computes what the branch-by-branch form computes.

Compared in float64, so that a difference is a difference in the math, not in
rounding: outputs, gradients of the input and of every parameter, running
statistics and state-dict keys.
"""
import copy
from typing import Dict, Tuple

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mobileone_mm import MobileOne, MobileOneBlock
from mobileone_mm.merged_training import merging_pays_off, patch_moments
from mobileone_mm.verify import make_realistic_

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


def merged_and_branch_copies(model: nn.Module) -> Tuple[nn.Module, nn.Module]:
    """Two float64 copies in train mode: every block merged, and every block branch by branch."""
    make_realistic_(model)
    model.double().train()
    merged, branches = copy.deepcopy(model), copy.deepcopy(model)
    for module in merged.modules():
        if isinstance(module, MobileOneBlock):
            module.merged_training = True
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
def test_merged_block_matches_branches(kind):
    merged, branches = merged_and_branch_copies(MobileOneBlock(**BLOCK_KINDS[kind]))
    x = torch.randn(3, merged.in_channels, 13, 13, dtype=torch.float64).relu() + 0.1
    assert_same_training(merged, branches, x)


@pytest.mark.parametrize('arch', ['s0', 's4'])
def test_merged_backbone_matches_branches(arch):
    merged, branches = merged_and_branch_copies(MobileOne(arch, out_indices=(0, 1, 2, 3)))
    assert_same_training(merged, branches, torch.randn(2, 3, 64, 64, dtype=torch.float64), steps=1)


def test_cumulative_average_momentum_is_followed():
    block = MobileOneBlock(8, 8, 1, num_convs=2, norm_cfg=dict(type='BN', momentum=None))
    merged, branches = merged_and_branch_copies(block)
    assert_same_training(merged, branches, torch.randn(4, 8, 6, 6, dtype=torch.float64), steps=3)


def test_float32_block_stays_within_tolerance_on_realistic_activations():
    block = make_realistic_(MobileOneBlock(64, 64, 1, num_convs=4)).train()
    reference = copy.deepcopy(block)
    reference.merged_training = False
    x = torch.randn(8, 64, 28, 28).relu() * 3 + 1  # post-ReLU activations with a large mean
    expected = reference(x)
    assert relative(block(x), expected) <= FLOAT32_TOLERANCE


def test_patch_moments_match_unfolded_patches():
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    mean, cov, count = patch_moments(x, kernel_size=3, stride=2, padding=2, dilation=2, groups=3)
    patches = torch.nn.functional.unfold(x, 3, dilation=2, padding=2, stride=2)  # (N, C * 9, L)
    patches = patches.reshape(2, 3, 18, -1).permute(1, 2, 0, 3).reshape(3, 18, -1)
    assert count == patches.shape[-1]
    torch.testing.assert_close(mean, patches.mean(-1))
    torch.testing.assert_close(cov, torch.stack([torch.cov(group, correction=0) for group in patches]))


def test_blocks_merge_where_it_saves_work():
    s0, s1 = MobileOne('s0'), MobileOne('s1')
    assert s0.stage0.merged_training and s1.stage0.merged_training  # stem: conv and scale branch, 3 inputs
    assert s0.stage2[1].merged_training  # 1x1, 4 branches
    assert not s1.stage2[1].merged_training  # 1x1, 1 branch
    assert not s0.stage2[0].merged_training  # 3x3 depthwise
    assert not MobileOne('s0', merged_training=False).stage2[1].merged_training
    assert merging_pays_off(patch_dim=48, out_per_group=128, num_convs=4)
    assert not merging_pays_off(patch_dim=9, out_per_group=1, num_convs=5)


@pytest.mark.parametrize('case', ['syncbn', 'eval', 'autocast'])
def test_falls_back_to_branches_where_merging_would_differ(case, monkeypatch):
    norm_cfg = dict(type='SyncBN') if case == 'syncbn' else dict(type='BN')
    block = make_realistic_(MobileOneBlock(8, 8, 1, num_convs=4, norm_cfg=norm_cfg))
    block.train(case != 'eval')
    assert block.merged_training

    def fail(*args, **kwargs):
        raise AssertionError('the merged form ran')

    monkeypatch.setattr('mobileone_mm.mobileone.merged_branches_forward', fail)
    x = torch.randn(2, 8, 5, 5)
    if case == 'syncbn':
        # SyncBN needs a process group in training; its eligibility is what is tested here.
        assert not block._can_merge()
    elif case == 'autocast':
        with torch.autocast('cpu', dtype=torch.bfloat16):
            block(x)
    else:
        block(x)
    assert all(not isinstance(m, _BatchNorm) or m.num_batches_tracked <= 1 for m in block.modules())
