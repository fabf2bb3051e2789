"""The README's and docs/existing_configs.md's snippets: MobileOne swapped into the frameworks' own base configs.

Each snippet is written to a file as a user would, built, compared with the base config's ResNet model (the neck
or heads must see feature maps of the same sizes: strides that do not match train wrong without an error) and
trained for one step.
"""
import re
from pathlib import Path
from typing import List, Tuple

import pytest
import torch
from framework_models import build_model, num_classes_of, pad_to_tiny_batch_, tiny_batch, tiny_size, total_loss
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm

from mobileone_mm import MobileOne

ROOT = Path(__file__).parents[1]
SNIPPET = re.compile(r'```python\n(_base_ = .*?)```', re.DOTALL)
FAMILIES = ('retinanet/', 'fcos/', 'faster_rcnn/', 'mask_rcnn/', 'pspnet/', 'upernet/', 'deeplabv3plus/',
            'resnet/resnet50')


def snippets() -> List[Tuple[str, str]]:
    """(id, text) of every complete config snippet (one that names its ``_base_``) of the README and the docs."""
    found = []
    for document in ('README.md', 'docs/existing_configs.md'):
        for text in SNIPPET.findall((ROOT / document).read_text()):
            base = re.match(r"_base_ = '(.*?)'", text).group(1)
            found.append((f'{document}:{base}', text))
    return found


def test_the_docs_cover_every_family_of_the_issue():
    bases = [snippet_id for snippet_id, _ in snippets()]
    assert all(any(family in base for base in bases) for family in FAMILIES)


def load_snippet(text: str, path: Path) -> Config:
    path.write_text(text)
    return pad_to_tiny_batch_(Config.fromfile(path))


@torch.no_grad()
def feature_sizes(model: torch.nn.Module, scope: str) -> List[Tuple[int, ...]]:
    """What the detector's heads see (the neck's outputs), or the spatial sizes the other heads see."""
    model.eval()
    images = torch.zeros(1, 3, tiny_size(scope), tiny_size(scope))
    if scope == 'mmdet':
        return [tuple(feature.shape) for feature in model.extract_feat(images)]
    return [tuple(feature.shape[-2:]) for feature in model.backbone(images)]


@pytest.mark.slow
@pytest.mark.parametrize('snippet_id, text', snippets(), ids=[snippet_id for snippet_id, _ in snippets()])
def test_snippet_builds_feeds_the_heads_as_resnet_does_and_trains(snippet_id, text, tmp_path):
    cfg = load_snippet(text, tmp_path / 'my_config.py')
    assert cfg.custom_imports == dict(imports=['mobileone_mm'], allow_failed_imports=False)
    model = build_model(cfg)
    assert type(model.backbone) is MobileOne
    resnet_cfg = load_snippet(text.split('\n')[0], tmp_path / 'base_config.py')  # the `_base_ = ...` line alone
    assert feature_sizes(model, cfg.default_scope) == feature_sizes(build_model(resnet_cfg), cfg.default_scope)

    model = revert_sync_batchnorm(model).train()  # as mmengine's runner does outside distributed training
    with_masks = 'mask_head' in cfg.model.get('roi_head', {})
    batch = model.data_preprocessor(tiny_batch(cfg.default_scope, num_classes_of(cfg), with_masks=with_masks), True)
    total = total_loss(model(**batch, mode='loss'))
    assert torch.isfinite(total) and total > 0
    total.backward()
    assert model.backbone.stage4[-1].branch_conv_list[0].conv.weight.grad is not None
