"""Building a config's model in its own framework's scope, and a tiny batch of that framework's data samples."""
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

TINY_SIZE = 128
# Segmentors compute at output stride 8 with 512-channel ASPP heads: 64x64 still gives them an 8x8 feature map, at a
# third of the time of 128x128 (DeepLabV3 on S4: 1.2 s against 4.2 s for a forward and backward pass).
TINY_SEGMENTATION_SIZE = 64


def tiny_size(scope: str) -> int:
    """The side of :func:`tiny_batch`'s images for a framework."""
    return TINY_SEGMENTATION_SIZE if scope == 'mmseg' else TINY_SIZE


def build_model(cfg: Config) -> torch.nn.Module:
    """``cfg.model`` built by the registry of ``cfg.default_scope`` (mmpretrain, mmdet or mmseg)."""
    scope = cfg.default_scope
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
    elif scope == 'mmdet':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg.model)


def pad_to_tiny_batch_(cfg: Config) -> Config:
    """A segmentor's data preprocessor padding to :func:`tiny_batch`'s size, not to its 512x512 crop (S4: 81 s)."""
    if cfg.default_scope == 'mmseg':
        cfg.model.data_preprocessor.size = (tiny_size('mmseg'),) * 2
    return cfg


def tiny_batch(scope: str, num_classes: int, with_masks: bool = False) -> dict:
    """Two random uint8 images of :func:`tiny_size` with ground truth of the framework's own data-sample type."""
    size = tiny_size(scope)
    generator = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=generator) for _ in range(2)]
    meta = dict(img_shape=(size, size), ori_shape=(size, size), pad_shape=(size, size), scale_factor=(1.0, 1.0))
    samples = []
    for index in range(2):
        if scope == 'mmpretrain':
            from mmpretrain.structures import DataSample
            samples.append(DataSample().set_gt_label(index % num_classes))
        elif scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            sample = DetDataSample(metainfo=meta)
            sample.gt_instances = InstanceData(bboxes=torch.tensor([[10.0, 20.0, 70.0, 90.0]]),
                                               labels=torch.tensor([index % num_classes]))
            if with_masks:
                mask = torch.zeros(1, size, size, dtype=torch.uint8)
                mask[:, 20:90, 10:70] = 1
                sample.gt_instances.masks = BitmapMasks(mask.numpy(), size, size)
            samples.append(sample)
        else:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=meta)
            label = torch.zeros(1, size, size, dtype=torch.long)
            label[:, size // 6:size * 5 // 8, size // 4:size * 3 // 4] = index % num_classes + 1
            sample.gt_sem_seg = PixelData(data=label)
            samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def num_classes_of(cfg: Config) -> int:
    """The number of classes of a classifier's, detector's (one- or two-stage) or segmentor's head."""
    model = cfg.model
    if cfg.default_scope == 'mmpretrain':
        return model.head.num_classes
    if cfg.default_scope == 'mmdet':
        return (model.get('bbox_head') or model.roi_head.bbox_head).num_classes
    return model.decode_head.num_classes


def total_loss(losses: dict) -> torch.Tensor:
    """The sum of a model's ``mode='loss'`` outputs whose names say loss (some are lists, one per level)."""
    return sum(sum(v) if isinstance(v, list) else v for k, v in losses.items() if 'loss' in k).sum()
