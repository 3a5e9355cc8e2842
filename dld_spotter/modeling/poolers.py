"""RoI pooling to a non-square size (the recognizer's 8×32) from several FPN levels, and its
deconvolution variant (Table 4, †)."""
from __future__ import annotations

from typing import List

import torch
from detectron2.modeling.poolers import (
    ROIPooler,
    assign_boxes_to_levels,
    convert_boxes_to_pooler_format,
)
from detectron2.structures import Boxes
from torch import nn


class RectROIPooler(ROIPooler):
    """``ROIPooler`` whose multi-level path honours a rectangular ``output_size``.

    (detectron2's multi-level path allocates a square ``output_size[0]`` × ``output_size[0]``
    result.) Returns ``(N, C, H_out, W_out)`` for the boxes of all images, in order.
    """

    def forward(self, x: List[torch.Tensor], box_lists: List[Boxes]) -> torch.Tensor:
        if len(self.level_poolers) == 1:
            return super().forward(x, box_lists)
        rois = convert_boxes_to_pooler_format(box_lists)
        levels = assign_boxes_to_levels(
            box_lists, self.min_level, self.max_level, self.canonical_box_size,
            self.canonical_level,
        )
        out = x[0].new_zeros((rois.shape[0], x[0].shape[1], *self.output_size))
        for level, pooler in enumerate(self.level_poolers):
            inds = torch.nonzero(levels == level).flatten()
            if inds.numel():
                out[inds] = pooler(x[level], rois[inds])
        return out


class DeconvROIPooler(nn.Module):
    """Table 4 (†): pools RoIs at ``pooler.output_size`` and lifts them to twice that size
    with a stride-2 deconvolution, initialised as nearest-neighbour upsampling.

    Returns ``(N, C, 2 H, 2 W)`` for ``pooler``'s ``(N, C, H, W)``.
    """

    def __init__(self, pooler: ROIPooler, channels: int):
        super().__init__()
        self.pooler = pooler
        self.deconv = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        nn.init.zeros_(self.deconv.bias)
        with torch.no_grad():
            self.deconv.weight.zero_()
            self.deconv.weight[range(channels), range(channels)] = 1.0
        h, w = pooler.output_size
        self.output_size = (2 * h, 2 * w)

    def forward(self, x: List[torch.Tensor], box_lists: List[Boxes]) -> torch.Tensor:
        return self.deconv(self.pooler(x, box_lists))
