"""RectROIPooler against detectron2's ROIPooler and torchvision's roi_align; DeconvROIPooler
at initialisation; the recognition pooler chosen from MODEL.REC_HEAD.DECONV_FROM."""
import os

import pytest
import torch
import torch.nn.functional as F
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_roi_heads
from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels
from detectron2.structures import Boxes
from testing import REPO
from torchvision.ops import roi_align

from dld_spotter.config import load_config
from dld_spotter.modeling.poolers import DeconvROIPooler, RectROIPooler

STRIDES = (4, 8, 16, 32)
SCALES = tuple(1.0 / s for s in STRIDES)
CHANNELS = 3


def features_and_boxes():
    """Random p2..p5 of two 512x512 images, and boxes from 24 to 480 pixels (levels 2..5)."""
    torch.manual_seed(0)
    features = [torch.randn(2, CHANNELS, 512 // s, 512 // s) for s in STRIDES]
    boxes = [Boxes(torch.tensor([[10.0, 10.0, 34.0, 40.0], [20.0, 30.0, 230.0, 80.0],
                                 [5.0, 5.0, 305.0, 300.0], [16.0, 20.0, 496.0, 500.0]])),
             Boxes(torch.tensor([[100.0, 200.0, 260.0, 350.0], [50.0, 60.0, 110.0, 70.0],
                                 [0.0, 100.0, 400.0, 300.0]]))]
    return features, boxes


def test_square_output_equals_detectron2s_pooler():
    features, boxes = features_and_boxes()
    args = dict(output_size=(7, 7), scales=SCALES, sampling_ratio=0, pooler_type="ROIAlignV2")
    ours = RectROIPooler(**args)(features, boxes)
    assert ours.shape == (7, CHANNELS, 7, 7)
    torch.testing.assert_close(ours, ROIPooler(**args)(features, boxes))


def test_rectangular_output_pools_each_box_from_its_level():
    features, boxes = features_and_boxes()
    pooler = RectROIPooler(output_size=(8, 32), scales=SCALES, sampling_ratio=0,
                           pooler_type="ROIAlignV2")
    out = pooler(features, boxes)
    levels = assign_boxes_to_levels(boxes, pooler.min_level, pooler.max_level,
                                    pooler.canonical_box_size, pooler.canonical_level)
    assert out.shape == (7, CHANNELS, 8, 32) and set(levels.tolist()) == {0, 1, 2, 3}
    rois = [(i, box) for i, b in enumerate(boxes) for box in b.tensor]
    for (image, box), level, pooled in zip(rois, levels.tolist(), out):
        expected = roi_align(features[level][image:image + 1], [box[None]], (8, 32),
                             spatial_scale=SCALES[level], sampling_ratio=0, aligned=True)
        torch.testing.assert_close(pooled, expected[0])


def test_deconv_pooler_starts_as_nearest_neighbour_upsampling():
    features, boxes = features_and_boxes()
    inner = RectROIPooler(output_size=(4, 16), scales=SCALES, sampling_ratio=0,
                          pooler_type="ROIAlignV2")
    pooler = DeconvROIPooler(inner, CHANNELS)
    assert pooler.output_size == (8, 32)
    expected = F.interpolate(inner(features, boxes), scale_factor=2, mode="nearest")
    torch.testing.assert_close(pooler(features, boxes), expected)


def test_rec_head_deconv_from_builds_the_deconv_pooler():
    opts = ["MODEL.REC_HEAD.CONV_DIM", "8", "MODEL.REC_HEAD.LSTM_HIDDEN", "8",
            "MODEL.REC_HEAD.ATTENTION_DIM", "8", "MODEL.ROI_BOX_HEAD.FC_DIM", "8",
            "MODEL.ROI_MASK_HEAD.CONV_DIM", "8"]
    shapes = {f"p{k}": ShapeSpec(channels=CHANNELS, stride=2 ** k) for k in range(2, 6)}
    base = os.path.join(REPO, "configs/Base-TextSpotter.yaml")
    assert isinstance(build_roi_heads(load_config(base, opts), shapes).rec_pooler, RectROIPooler)
    heads = build_roi_heads(load_config(base, [*opts, "MODEL.REC_HEAD.DECONV_FROM", "(4, 16)"]),
                            shapes)
    assert isinstance(heads.rec_pooler, DeconvROIPooler)
    assert heads.rec_pooler.pooler.output_size == (4, 16)
    assert heads.rec_pooler.output_size == (8, 32)
    with pytest.raises(ValueError, match="DECONV_FROM"):
        build_roi_heads(load_config(base, [*opts, "MODEL.REC_HEAD.DECONV_FROM", "(4, 8)"]),
                        shapes)
