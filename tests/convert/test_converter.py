import functools
import os
import pickle
from collections import OrderedDict

import pytest
import timm
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.registry import DefaultScope

import mobileone_mm.utils.files
from mobileone_mm import MobileOne, arch_channels
from mobileone_mm.convert import convert_file, convert_state_dict, load_checkpoint_file
from mobileone_mm.testing.weights import randomize_batch_norm_
from mobileone_mm.utils.numerics import relative_error

ARCHS = ['s0', 's1', 's2', 's3', 's4']
# Whole networks are compared in float64, where a correct mapping agrees to 1e-15: timm sums a block's branches in
# another order than this project, so in float32 the two differ by rounding (about 1e-6 here, amplified by depth),
# while a tensor mapped to the wrong place is off by 1e-2 or more.
FLOAT64_TOLERANCE = 1e-8


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """On 2 shared cores, OpenMP threads waiting for each other make these small convs up to 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@torch.no_grad()
def random_timm_model(arch, **kwargs):
    """timm's MobileOne with random BN statistics and random biases (timm zero-inits the SE and head biases)."""
    model = randomize_batch_norm_(timm.create_model(f'mobileone_{arch}', pretrained=False, **kwargs))
    generator = torch.Generator().manual_seed(1)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)) and module.bias is not None:
            module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    return model.eval()


def mmpretrain_classifier(conversion):
    """mmpretrain's ImageClassifier around this MobileOne, loaded strictly with the whole converted state dict."""
    from mmpretrain.models import ImageClassifier
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        classifier = ImageClassifier(
            backbone=dict(type='mobileone_mm.MobileOne', arch=conversion.arch, out_indices=(0, 1, 2, 3),
                          deploy=conversion.form == 'deploy'),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=conversion.num_classes,
                      in_channels=arch_channels(conversion.arch)[-1]))
    classifier.double().eval()
    classifier.load_state_dict(conversion.state_dict, strict=True)
    return classifier


@torch.no_grad()
def compare_with_timm(timm_model, conversion):
    """Relative errors of this project's features and logits against timm's, in float64."""
    classifier = mmpretrain_classifier(conversion)
    timm_model = timm_model.double()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    features = classifier.backbone(x)
    logits = classifier.head(classifier.neck(features))
    expected = timm_model.forward_intermediates(x, indices=[1, 2, 3, 4], intermediates_only=True)
    return dict(features=relative_error(features, expected),
                logits=relative_error(logits, timm_model.forward_head(timm_model.forward_features(x))))


@pytest.mark.parametrize('arch', ARCHS)
def test_timm_train_form_converts_to_same_features_and_logits(arch):
    timm_model = random_timm_model(arch)
    conversion = convert_state_dict(timm_model.state_dict())
    assert (conversion.source, conversion.arch, conversion.form) == ('timm', arch, 'train')
    assert conversion.num_classes == 1000
    errors = compare_with_timm(timm_model, conversion)
    print(f'{arch} timm train form, relative errors in float64: {errors}')
    assert max(errors.values()) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize('arch', ARCHS)
def test_timm_reparameterized_form_converts_to_deploy_form(arch):
    timm_model = timm.utils.reparameterize_model(random_timm_model(arch), inplace=True)
    conversion = convert_state_dict(timm_model.state_dict(), source='timm', arch=arch)
    assert (conversion.arch, conversion.form) == (arch, 'deploy')
    assert not any('.branch_' in key and '.branch_reparam.' not in key for key in conversion.state_dict)
    errors = compare_with_timm(timm_model, conversion)
    print(f'{arch} timm reparameterized form, relative errors in float64: {errors}')
    assert max(errors.values()) <= FLOAT64_TOLERANCE


def to_apple_layout(state_dict):
    """Apple's ml-mobileone names for this project's keys, written from Apple's mobileone.py, not from the converter.

    Apple: ``stage0`` is the stem block, ``stage1..4`` are sequences of blocks; a block has ``rbr_conv.N.conv/bn``,
    ``rbr_scale.conv/bn``, ``rbr_skip`` (a BatchNorm2d), ``se.reduce/expand`` (1x1 convs with bias) and, fused,
    ``reparam_conv``; the classifier is ``linear``.
    """
    renames = [('backbone.', ''), ('head.fc.', 'linear.'), ('branch_conv_list.', 'rbr_conv.'),
               ('branch_scale.', 'rbr_scale.'), ('branch_norm.', 'rbr_skip.'), ('.norm.', '.bn.'),
               ('se.conv1.conv.', 'se.reduce.'), ('se.conv2.conv.', 'se.expand.'), ('branch_reparam.', 'reparam_conv.')]
    apple = {}
    for key, value in state_dict.items():
        for ours, apples in renames:
            key = key.replace(ours, apples)
        apple[key] = value
    return apple


@functools.lru_cache(maxsize=None)
def our_checkpoint(arch, deploy=False, num_classes=10):
    """A random checkpoint of this project's layout (shared between tests: do not modify)."""
    model = randomize_batch_norm_(MobileOne(arch))
    if deploy:
        model.switch_to_deploy()
    head = nn.Linear(arch_channels(arch)[-1], num_classes)
    return {**{f'backbone.{key}': value for key, value in model.state_dict().items()},
            **{f'head.fc.{key}': value for key, value in head.state_dict().items()}}


@pytest.mark.parametrize('form', ['train', 'deploy'])
@pytest.mark.parametrize('arch', ARCHS)
def test_apple_layout_round_trips(arch, form):
    ours = our_checkpoint(arch, deploy=form == 'deploy')
    conversion = convert_state_dict(to_apple_layout(ours))
    assert (conversion.source, conversion.arch, conversion.form, conversion.num_classes) == ('apple', arch, form, 10)
    assert list(conversion.state_dict) == list(ours)
    assert all(torch.equal(conversion.state_dict[key], value) for key, value in ours.items())


def test_apple_checkpoint_wrapped_in_state_dict_with_module_prefix():
    ours = our_checkpoint('s1')
    wrapped = {'state_dict': {f'module.{key}': value for key, value in to_apple_layout(ours).items()}, 'epoch': 300}
    conversion = convert_state_dict(wrapped, source='apple')
    assert conversion.arch == 's1'
    assert conversion.state_dict.keys() == ours.keys()


class AppleSEBlock(nn.Module):
    """Apple's ``SEBlock``: squeeze width ``int(channels * 0.0625)``, 1x1 convs with bias, ReLU, sigmoid gate."""

    def __init__(self, channels, rd_ratio=0.0625):
        super().__init__()
        self.reduce = nn.Conv2d(channels, int(channels * rd_ratio), 1, bias=True)
        self.expand = nn.Conv2d(int(channels * rd_ratio), channels, 1, bias=True)

    def forward(self, x):
        squeezed = F.avg_pool2d(x, kernel_size=list(x.shape[2:]))
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(squeezed))))


class AppleBlock(nn.Module):
    """Apple's ``MobileOneBlock``, train form: ``relu(se(rbr_skip(x) + rbr_scale(x) + sum of rbr_conv(x)))``.

    ``rbr_skip`` is a BatchNorm2d of the input channels, present when in == out channels and stride 1.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, groups=1, use_se=False, num_convs=1):
        super().__init__()

        def conv_bn(size):
            conv = nn.Conv2d(in_channels, out_channels, size, stride, size // 2, groups=groups, bias=False)
            return nn.Sequential(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out_channels)))

        self.se = AppleSEBlock(out_channels) if use_se else nn.Identity()
        self.rbr_skip = nn.BatchNorm2d(in_channels) if in_channels == out_channels and stride == 1 else None
        self.rbr_conv = nn.ModuleList(conv_bn(kernel_size) for _ in range(num_convs))
        self.rbr_scale = conv_bn(1) if kernel_size > 1 else None

    def forward(self, x):
        branches = [self.rbr_skip, self.rbr_scale, *self.rbr_conv]
        return F.relu(self.se(sum(branch(x) for branch in branches if branch is not None)))


APPLE_BLOCKS = {
    ('s0', 'stage0'): dict(in_channels=3, out_channels=48, kernel_size=3, stride=2),
    ('s0', 'stage1.1'): dict(in_channels=48, out_channels=48, kernel_size=1, num_convs=4),
    ('s4', 'stage3.18'): dict(in_channels=896, out_channels=896, kernel_size=3, groups=896, use_se=True),
    ('s4', 'stage3.19'): dict(in_channels=896, out_channels=896, kernel_size=1, use_se=True),
    ('s4', 'stage4.0'): dict(in_channels=896, out_channels=896, kernel_size=3, stride=2, groups=896, use_se=True),
    ('s4', 'stage4.1'): dict(in_channels=896, out_channels=2048, kernel_size=1, use_se=True),
}


@pytest.mark.parametrize('arch, block_name', APPLE_BLOCKS)
def test_apple_blocks_with_skip_bn_and_se_compute_what_the_converted_blocks_do(arch, block_name):
    """Apple's SE width int(C / 16) equals this project's make_divisible(C // 16, 8) for s4's 896 and 2048 channels
    (the strict load checks it), and Apple's rbr_skip BN is this project's branch_norm."""
    apple_checkpoint = to_apple_layout(our_checkpoint(arch))
    prefix = f'{block_name}.'
    apple_block = AppleBlock(**APPLE_BLOCKS[arch, block_name])
    apple_block.load_state_dict({key[len(prefix):]: value for key, value in apple_checkpoint.items()
                                 if key.startswith(prefix)}, strict=True)
    backbone = MobileOne(arch)
    backbone.load_state_dict({key[len('backbone.'):]: value for key, value in
                              convert_state_dict(apple_checkpoint).state_dict.items() if key.startswith('backbone.')},
                             strict=True)
    block = backbone.get_submodule(block_name).double().eval()
    x = torch.randn(2, apple_block.rbr_conv[0].conv.in_channels, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        assert relative_error(block(x), apple_block.double().eval()(x)) <= FLOAT64_TOLERANCE


@functools.lru_cache(maxsize=None)
def timm_s0_state_dict():
    return random_timm_model('s0').state_dict()


def test_missing_num_batches_tracked_still_loads_strictly():
    state_dict = {key: value for key, value in timm_s0_state_dict().items() if 'num_batches_tracked' not in key}
    conversion = convert_state_dict(state_dict)
    model = MobileOne('s0')
    model.load_state_dict({key[len('backbone.'):]: value for key, value in conversion.state_dict.items()
                           if key.startswith('backbone.')}, strict=True)


def without(key):
    return lambda state_dict: {k: v for k, v in state_dict.items() if k != key}


def with_entry(key, value):
    return lambda state_dict: {**state_dict, key: value}


BAD_STATE_DICTS = {
    'a tensor missing': (without('stages.1.3.conv_kxk.2.bn.running_var'), {},
                         r"fits none of MobileOne .*missing keys \(1\): 'backbone.stage2.3.branch_conv_list.2.norm"),
    'a key of no layout': (with_entry('stages.1.3.extra.weight', torch.zeros(1)), {},
                           r"unrecognised checkpoint layout: 1 of 1324 keys are not timm's, e.g. "
                           r"'stages.1.3.extra.weight'. Supported layouts: timm's .*Apple's"),
    'a head of the wrong width': (with_entry('head.fc.weight', torch.zeros(1000, 512)), {},
                                  r"classifier of a MobileOne 's0' needs .*\(num_classes, 1024\).*got \(1000, 512\)"),
    'another arch than given': (lambda state_dict: state_dict, dict(arch='s2'),
                                r"does not fit MobileOne 's2' \(train form\): .*its tensors fit 's0'"),
    'another layout than given': (lambda state_dict: state_dict, dict(source='apple'),
                                  r"in timm's layout, not apple's .*convert it as timm"),
    'an unknown arch': (lambda state_dict: state_dict, dict(arch='s9'), r"arch 's9' is not one of"),
    'an entry that is not a tensor': (with_entry('epoch', 3), {}, r"not tensors: 'epoch'"),
    'no tensors': (lambda state_dict: {}, {}, 'holds no tensors'),
}


@pytest.mark.parametrize('case', BAD_STATE_DICTS)
def test_bad_checkpoints_are_refused_clearly(case):
    change, kwargs, message = BAD_STATE_DICTS[case]
    with pytest.raises(ValueError, match=message):
        convert_state_dict(change(timm_s0_state_dict()), **kwargs)


@pytest.fixture
def timm_file(tmp_path):
    path = tmp_path / 'mobileone_s0_timm.pth'
    torch.save(timm_s0_state_dict(), path)
    return path


def test_convert_file_saves_state_dict_and_meta(timm_file):
    out = timm_file.with_name('converted.pth')
    convert_file(timm_file, out, 'timm')
    checkpoint = torch.load(out, map_location='cpu', weights_only=True)
    assert checkpoint['meta'] == dict(converted_from='timm', arch='s0', form='train', num_classes=1000)
    assert checkpoint['state_dict'].keys() == convert_state_dict(timm_s0_state_dict()).state_dict.keys()
    assert sorted(os.listdir(out.parent)) == ['converted.pth', 'mobileone_s0_timm.pth']


def test_unknown_layout_is_refused_and_nothing_written(tmp_path):
    path, out = tmp_path / 'resnet.pth', tmp_path / 'out.pth'
    torch.save({'conv1.weight': torch.zeros(64, 3, 7, 7), 'fc.weight': torch.zeros(1000, 2048)}, path)
    with pytest.raises(ValueError, match=r"unrecognised checkpoint layout: 2 of 2 .*'conv1.weight', 'fc.weight'.*"
                                         r"Supported layouts: timm's .*Apple's"):
        convert_file(path, out)
    assert os.listdir(tmp_path) == ['resnet.pth']


def test_missing_input_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match='absent.pth.* does not exist'):
        convert_file(tmp_path / 'absent.pth', tmp_path / 'out.pth')
    assert os.listdir(tmp_path) == []


def test_out_equal_to_in_is_refused(timm_file):
    before = timm_file.read_bytes()
    link = timm_file.with_name('link.pth')
    link.symlink_to(timm_file)
    for out in [timm_file, f'{timm_file.parent}/../{timm_file.parent.name}/{timm_file.name}', link]:
        with pytest.raises(ValueError, match='refusing to overwrite the input checkpoint'):
            convert_file(timm_file, out)
    assert timm_file.read_bytes() == before


def test_failed_conversion_leaves_existing_out_untouched(timm_file):
    out = timm_file.with_name('out.pth')
    out.write_bytes(b'previous')
    with pytest.raises(ValueError, match="does not fit MobileOne 's1'"):
        convert_file(timm_file, out, 'timm', arch='s1')
    assert out.read_bytes() == b'previous'
    assert sorted(os.listdir(out.parent)) == ['mobileone_s0_timm.pth', 'out.pth']


def test_failure_while_writing_leaves_no_partial_out(timm_file, monkeypatch):
    def save_half_then_fail(obj, file):
        file.write(b'partial')
        raise OSError('disk full')

    monkeypatch.setattr(mobileone_mm.utils.files.torch, 'save', save_half_then_fail)
    out = timm_file.with_name('out.pth')
    with pytest.raises(OSError, match='disk full'):
        convert_file(timm_file, out)
    assert os.listdir(out.parent) == ['mobileone_s0_timm.pth']


class RunsCode:
    """A pickle payload that would create a folder when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker, )


def test_checkpoint_that_runs_code_is_refused(tmp_path):
    marker, path = tmp_path / 'code-ran', tmp_path / 'evil.pth'
    torch.save({'stem.conv_kxk.0.conv.weight': torch.zeros(1), 'payload': RunsCode(str(marker))}, path)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint_file(path)
    assert not marker.exists()


def test_tool_converts_a_reparameterized_headless_timm_checkpoint(tmp_path, capsys, run_tool):
    timm_model = timm.utils.reparameterize_model(random_timm_model('s0', num_classes=0), inplace=True)
    path, out = tmp_path / 'fused.pth', tmp_path / 'out.pth'
    torch.save(timm_model.state_dict(), path)
    run_tool('convert_checkpoint', '--from', 'timm', str(path), str(out), '--arch', 's0')
    printed = capsys.readouterr().out
    assert "layout: timm, arch: s0, form: deploy (load into MobileOne(arch='s0', deploy=True))" in printed
    assert 'tensors: 86, head: none' in printed
    model = MobileOne('s0', deploy=True)
    model.load_state_dict({key[len('backbone.'):]: value for key, value in
                           torch.load(out, weights_only=True)['state_dict'].items()}, strict=True)


def test_tool_reports_errors_without_traceback_and_writes_nothing(timm_file, run_tool):
    out = timm_file.with_name('out.pth')
    with pytest.raises(SystemExit, match=r"^error: the checkpoint is in timm's layout, not apple's"):
        run_tool('convert_checkpoint', '--from', 'apple', str(timm_file), str(out))
    assert not out.exists()
