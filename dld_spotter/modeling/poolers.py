"""RoI pooling to a non-square size (the recognizer's 8×32) from several FPN levels."""
from __future__ import annotations

from typing import List

import torch
from detectron2.modeling.poolers import (
    ROIPooler,
    assign_boxes_to_levels,
    convert_boxes_to_pooler_format,
)
from detectron2.structures import Boxes


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
