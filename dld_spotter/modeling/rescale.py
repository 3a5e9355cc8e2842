"""Resizing a batch to per-image scales, and ground truth with it."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch.nn.functional as F
from detectron2.structures import Boxes, ImageList, Instances, PolygonMasks
from torch import nn


def resize_image_list(images: ImageList, scales: Sequence[float], backbone: nn.Module
                      ) -> Tuple[ImageList, List[Tuple[float, float]]]:
    """Each image resized by its scale (antialiased bilinear), padded into a new ``ImageList``
    as ``backbone`` needs; also the exact ``(x, y)`` factors of each image."""
    tensors, factors = [], []
    for img, (h, w), s in zip(images.tensor, images.image_sizes, scales):
        h, w = int(h), int(w)  # tensors while tracing
        img = img[:, :h, :w]
        nh, nw = max(round(h * s), 1), max(round(w * s), 1)
        if (nh, nw) != (h, w):
            img = F.interpolate(img[None], size=(nh, nw), mode="bilinear",
                                align_corners=False, antialias=True)[0]
        tensors.append(img)
        factors.append((nw / w, nh / h))
    small = ImageList.from_tensors(tensors, backbone.size_divisibility,
                                   padding_constraints=backbone.padding_constraints)
    return small, factors


def scale_instances(instances: Instances, image_size: Tuple[int, int],
                    factors: Tuple[float, float]) -> Instances:
    """A copy of ``instances`` on an image resized to ``image_size`` by ``(x, y)``
    ``factors``: ``Boxes`` and ``PolygonMasks`` fields scaled, the others shared."""
    sx, sy = factors
    out = Instances(image_size)
    for name, value in instances.get_fields().items():
        if isinstance(value, Boxes):
            value = value.clone()
            value.scale(sx, sy)
        elif isinstance(value, PolygonMasks):
            value = PolygonMasks([
                [(p.reshape(-1, 2) * (sx, sy)).reshape(-1) for p in polygons]
                for polygons in value.polygons
            ])
        out.set(name, value)
    return out
