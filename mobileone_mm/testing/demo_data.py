"""Seeded demo datasets in the real on-disk formats, for runs with no dataset at hand.

Every image shows shapes of a few classes (circle, square, triangle), each with
its own hue, on a textured background, so the tasks are learnable. One scene
generator feeds four writers:

- ImageNet layout for mmpretrain (``train/<class>/*.png`` + ``meta/train.txt``),
- COCO json for mmdet (``annotations/instances_{train,val}2017.json``),
- Pascal VOC 2012 (+ aug) layout for mmseg (``SegmentationClass`` palette PNGs),
- ADE20K layout for mmseg (``annotations/{training,validation}``, 0 = other).
"""
import json
import os.path as osp
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ('circle', 'square', 'triangle')
# A hue per class (RGB), jittered per object, so colour and shape both carry the class.
CLASS_COLOURS = ((220, 60, 50), (60, 190, 70), (60, 90, 220))
# Pascal VOC / ADE20K label ids the demo classes are written as.
VOC_LABELS = (1, 2, 3)  # aeroplane, bicycle, bird: any three VOC ids would do
ADE_LABELS = (1, 2, 3)  # wall, building, sky (ADE20K ids start at 1; 0 is "other")


class Scene:
    """One generated image with its objects' classes, boxes and masks."""

    def __init__(self, image: np.ndarray, labels: List[int], boxes: List[Tuple[int, int, int, int]],
                 masks: List[np.ndarray]) -> None:
        self.image = image
        self.labels = labels
        self.boxes = boxes
        self.masks = masks

    def label_map(self, label_ids: Tuple[int, ...], background: int = 0) -> np.ndarray:
        """Per-pixel label ids; later objects cover earlier ones."""
        label_map = np.full(self.image.shape[:2], background, dtype=np.uint8)
        for label, mask in zip(self.labels, self.masks):
            label_map[mask] = label_ids[label]
        return label_map


def textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Greyish low-frequency noise plus faint stripes at a random angle."""
    coarse = rng.uniform(70, 180, size=(size // 8 + 1, size // 8 + 1, 3))
    noise = np.asarray(Image.fromarray(coarse.astype(np.uint8)).resize((size, size), Image.BILINEAR), np.float32)
    y, x = np.mgrid[:size, :size]
    angle, period = rng.uniform(0, np.pi), rng.uniform(6, 16)
    stripes = 15 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    grey = noise.mean(axis=2, keepdims=True)
    texture = 0.6 * grey + 0.4 * noise + stripes[..., None] + rng.normal(0, 6, size=(size, size, 3))
    return np.clip(texture, 0, 255)


def draw_shape(draw: ImageDraw.ImageDraw, label: int, box: Tuple[int, int, int, int], fill) -> None:
    x0, y0, x1, y1 = box
    if CLASSES[label] == 'circle':
        draw.ellipse(box, fill=fill)
    elif CLASSES[label] == 'square':
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)


def make_scene(rng: np.random.Generator, size: int, num_objects: int, min_frac: float = 0.2,
               max_frac: float = 0.45) -> Scene:
    """Draws ``num_objects`` shapes of random class, size and place on a textured background."""
    image = Image.fromarray(textured_background(rng, size).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    labels, boxes, masks = [], [], []
    for _ in range(num_objects):
        label = int(rng.integers(len(CLASSES)))
        side = int(rng.uniform(min_frac, max_frac) * size)
        x0, y0 = (int(v) for v in rng.integers(0, size - side, size=2))
        box = (x0, y0, x0 + side - 1, y0 + side - 1)
        colour = tuple(int(c) for c in np.clip(np.array(CLASS_COLOURS[label]) + rng.normal(0, 20, 3), 0, 255))
        draw_shape(draw, label, box, colour)
        mask_image = Image.new('L', (size, size), 0)
        draw_shape(ImageDraw.Draw(mask_image), label, box, 1)
        mask = np.asarray(mask_image, dtype=bool)
        for earlier in masks:  # the new shape covers what it overlaps
            earlier &= ~mask
        labels.append(label)
        boxes.append(box)
        masks.append(mask)
    keep = [i for i, mask in enumerate(masks) if mask.sum() > 0.5 * (boxes[i][2] - boxes[i][0] + 1) ** 2 * 0.4]
    return Scene(np.asarray(image), [labels[i] for i in keep], [boxes[i] for i in keep], [masks[i] for i in keep])


def write_imagenet(root: Path, rng: np.random.Generator, num_train: int, num_val: int, size: int) -> None:
    """One shape per image, in the ImageNet layout of mmpretrain's ``ImageNet`` dataset."""
    for split, count in (('train', num_train), ('val', num_val)):
        lines = []
        for index in range(count):
            label = index % len(CLASSES)
            scene = make_scene(rng, size, 0)
            image = Image.fromarray(scene.image)
            side = int(rng.uniform(0.35, 0.7) * size)
            x0, y0 = (int(v) for v in rng.integers(0, size - side, size=2))
            colour = tuple(int(c) for c in np.clip(np.array(CLASS_COLOURS[label]) + rng.normal(0, 20, 3), 0, 255))
            draw_shape(ImageDraw.Draw(image), label, (x0, y0, x0 + side - 1, y0 + side - 1), colour)
            relative = f'{CLASSES[label]}/{split}_{index:05d}.png'
            (root / split / CLASSES[label]).mkdir(parents=True, exist_ok=True)
            image.save(root / split / relative)
            lines.append(f'{relative} {label}\n')
        (root / 'meta').mkdir(parents=True, exist_ok=True)
        (root / 'meta' / f'{split}.txt').write_text(''.join(lines))


def write_coco(root: Path, rng: np.random.Generator, num_train: int, num_val: int, size: int) -> None:
    """Scenes of 1-4 shapes with boxes, in COCO's ``instances_*.json`` format."""
    categories = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(CLASSES)]
    for split, count in (('train2017', num_train), ('val2017', num_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for index in range(count):
            scene = make_scene(rng, size, int(rng.integers(1, 5)))
            file_name = f'{index:06d}.jpg'
            Image.fromarray(scene.image).save(root / split / file_name, quality=95)
            images.append(dict(id=index, file_name=file_name, width=size, height=size))
            for label, mask in zip(scene.labels, scene.masks):
                ys, xs = np.nonzero(mask)
                x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
                annotations.append(dict(id=len(annotations) + 1, image_id=index, category_id=label + 1,
                                        bbox=[x0, y0, x1 - x0, y1 - y0], area=int(mask.sum()), iscrowd=0,
                                        segmentation=[]))
        (root / 'annotations').mkdir(parents=True, exist_ok=True)
        with open(root / 'annotations' / f'instances_{split}.json', 'w') as file:
            json.dump(dict(images=images, annotations=annotations, categories=categories), file)


def voc_palette() -> List[int]:
    """Pascal VOC's colour map, as in its palette PNGs."""
    palette = []
    for index in range(256):
        r = g = b = 0
        c = index
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette += [r, g, b]
    return palette


def segmentation_scenes(rng: np.random.Generator, count: int, size: int) -> List[Scene]:
    return [make_scene(rng, size, int(rng.integers(1, 4)), 0.25, 0.5) for _ in range(count)]


def write_voc(root: Path, rng: np.random.Generator, num_train: int, num_val: int, size: int) -> None:
    """Pascal VOC 2012 with the aug split: palette masks, ``ImageSets/Segmentation/*.txt``."""
    for folder in ('JPEGImages', 'SegmentationClass', 'SegmentationClassAug', 'ImageSets/Segmentation'):
        (root / folder).mkdir(parents=True, exist_ok=True)
    names: Dict[str, List[str]] = {'train': [], 'val': [], 'aug': []}
    palette = voc_palette()
    for split, count in (('train', num_train), ('val', num_val), ('aug', num_train)):
        for index, scene in enumerate(segmentation_scenes(rng, count, size)):
            name = f'demo_{split}_{index:05d}'
            Image.fromarray(scene.image).save(root / 'JPEGImages' / f'{name}.jpg', quality=95)
            mask = Image.fromarray(scene.label_map(VOC_LABELS), mode='P')
            mask.putpalette(palette)
            mask.save(root / ('SegmentationClassAug' if split == 'aug' else 'SegmentationClass') / f'{name}.png')
            names[split].append(name)
    for split, split_names in names.items():
        (root / 'ImageSets' / 'Segmentation' / f'{split}.txt').write_text(''.join(f'{n}\n' for n in split_names))


def write_ade20k(root: Path, rng: np.random.Generator, num_train: int, num_val: int, size: int) -> None:
    """ADEChallengeData2016 layout: ``images/`` JPEGs and ``annotations/`` label PNGs (0 = other)."""
    for split, count in (('training', num_train), ('validation', num_val)):
        (root / 'images' / split).mkdir(parents=True, exist_ok=True)
        (root / 'annotations' / split).mkdir(parents=True, exist_ok=True)
        for index, scene in enumerate(segmentation_scenes(rng, count, size)):
            name = f'ADE_demo_{split}_{index:08d}'
            Image.fromarray(scene.image).save(root / 'images' / split / f'{name}.jpg', quality=95)
            Image.fromarray(scene.label_map(ADE_LABELS)).save(root / 'annotations' / split / f'{name}.png')


def generate_demo_data(root: str = 'data/demo', seed: int = 0, scale: float = 1.0) -> Dict[str, str]:
    """Writes all four demo datasets under ``root``; the same seed gives the same files.

    Args:
        root (str): Output folder.
        seed (int): Seed of everything drawn.
        scale (float): Multiplies the number of images (1.0 for the demo,
            less for quick tests).

    Returns:
        dict: The data root of each dataset, keyed by ``imagenet``, ``coco``,
        ``voc`` and ``ade20k``.
    """
    rng = np.random.default_rng(seed)

    def counts(num_train: int, num_val: int) -> Tuple[int, int]:
        return max(3, int(num_train * scale)), max(3, int(num_val * scale))

    roots = dict(imagenet=osp.join(root, 'imagenet'), coco=osp.join(root, 'coco'),
                 voc=osp.join(root, 'VOCdevkit', 'VOC2012'), ade20k=osp.join(root, 'ade', 'ADEChallengeData2016'))
    write_imagenet(Path(roots['imagenet']), rng, *counts(300, 60), size=64)
    write_coco(Path(roots['coco']), rng, *counts(400, 80), size=128)
    write_voc(Path(roots['voc']), rng, *counts(120, 30), size=128)
    write_ade20k(Path(roots['ade20k']), rng, *counts(120, 30), size=128)
    return roots
