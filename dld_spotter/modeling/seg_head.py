"""``TextSegmentationHead``: a DB-style text detector (Liao et al., "Real-time Scene Text
Detection with Differentiable Binarization"; the segmentation family of Text Perceptron), as
the ``proposal_generator`` of ``SegTextSpotter``.

It predicts, at input resolution, a probability map P of the words shrunk by
``D = A (1 - r^2) / L`` and, in training, a threshold map T whose targets rise towards each
word's border; the approximate binary map ``B = sigmoid(k (P - T))`` trains both. Inference
binarises P, scores each connected region by its mean P, grows it back by the distance that
inverts the shrink, and returns ``Instances`` shaped like Mask R-CNN's (boxes, scores, classes
and ``(N, 1, M, M)`` masks in box coordinates) for the recognition heads' RoI-Masking.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import shapely
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import PROPOSAL_GENERATOR_REGISTRY
from detectron2.structures import Boxes, ImageList, Instances, PolygonMasks
from detectron2.structures.masks import polygons_to_bitmask
from torch import nn

from ..charset import IGNORE

__all__ = ["SegTargets", "TextSegmentationHead", "border_distance", "fill_polygons",
           "seg_losses", "seg_targets", "shrink_distance", "text_regions", "unclip"]


def shrink_distance(polygons: np.ndarray, ratio: float) -> np.ndarray:
    """DB's offset ``D = A (1 - r^2) / L`` of each shapely polygon ``(N,)`` -> ``(N,)``."""
    return (shapely.area(polygons) * (1.0 - ratio ** 2)
            / np.maximum(shapely.length(polygons), 1e-6))


def unclip(polygons: np.ndarray, shrink_ratio: float, ratio: float = 1.0) -> np.ndarray:
    """Grow shapely polygons ``(N,)`` (detected shrunk words) back to the words, with mitred
    corners: each by ``ratio`` x the distance ``d`` of which it is the shrink,
    ``d = (1 - r^2) A / L``, A and L being those of the polygon grown by ``d`` (for a
    rectangle ``A' + L' d + 4 d^2`` and ``L' + 8 d``: exact for rectangles). DB's
    ``d = 1.5 A' / L'`` would bring back 40 % of a long word's height at r = 0.4.

    Returns:
        ``(N,)`` shapely polygons (the largest part where growing gives several).
    """
    c, r2 = 1.0 - shrink_ratio ** 2, shrink_ratio ** 2
    area, length = shapely.area(polygons), shapely.length(polygons)
    # 4 (1 + r^2) d^2 + r^2 L' d - c A' = 0
    a = 4.0 * (1.0 + r2)
    d = (np.sqrt((r2 * length) ** 2 + 4 * a * c * area) - r2 * length) / (2 * a)
    grown = shapely.buffer(shapely.make_valid(polygons), d * ratio, join_style="mitre")
    return np.array([_largest_polygon(g) for g in grown], dtype=object)


def _largest_polygon(geometry) -> shapely.Polygon:
    parts = [p for p in shapely.get_parts(geometry) if isinstance(p, shapely.Polygon)]
    return max(parts, key=lambda p: p.area) if parts else shapely.Polygon()


def fill_polygons(canvas: np.ndarray, polygons: Sequence[np.ndarray], value: float) -> None:
    """Set to ``value``, in place, the pixels of ``canvas`` ``(H, W)`` inside ``polygons``
    (``(K, 2)`` x, y arrays; rasterised as detectron2 rasterises ``PolygonMasks``)."""
    flat = [np.asarray(p, dtype=np.float64).ravel() for p in polygons if len(p) >= 3]
    if flat:
        canvas[polygons_to_bitmask(flat, *canvas.shape)] = value


def border_distance(points: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """``(len(ys), len(xs))``: the distance from each point ``(xs[j], ys[i])`` to the closed
    polyline ``points`` ``(K, 2)``."""
    a = points[None, None]  # (1, 1, K, 2)
    ab = np.roll(points, -1, axis=0)[None, None] - a
    p = np.stack(np.meshgrid(xs, ys), axis=-1)[:, :, None]  # (H, W, 1, 2)
    t = ((p - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12)
    nearest = a + np.clip(t, 0.0, 1.0)[..., None] * ab
    return np.sqrt(((p - nearest) ** 2).sum(-1)).min(axis=-1)


@dataclass
class SegTargets:
    """The targets of a batch, each ``(B, H, W)`` float: P's (``prob``, 1 in the shrunk words)
    and where it counts (``prob_mask``: 0 on don't-care words and the padding), T's
    (``thresh``) and where it counts (``thresh_mask``: the words grown by D)."""

    prob: torch.Tensor
    prob_mask: torch.Tensor
    thresh: torch.Tensor
    thresh_mask: torch.Tensor


def seg_targets(polygons: Sequence[np.ndarray], ignore: Sequence[bool], shape: Tuple[int, int],
                valid: Tuple[int, int], shrink_ratio: float,
                thresh_range: Tuple[float, float]) -> Tuple[np.ndarray, ...]:
    """DB's targets of one image.

    Args:
        polygons: the words' polygons, ``(K, 2)`` x, y arrays in input pixels.
        ignore: per polygon, whether it is a don't-care region (no target, no loss).
        shape: ``(H, W)`` of the maps (the padded input).
        valid: ``(h, w)`` of the image inside them; the padding takes no loss.
        shrink_ratio, thresh_range: ``r`` and T's (min, max).

    Returns:
        ``(prob, prob_mask, thresh, thresh_mask)``, ``(H, W)`` float32 each. A word whose
        shrink is empty (too small to shrink) is a don't-care region.
    """
    prob = np.zeros(shape, dtype=np.float32)
    prob_mask = np.zeros(shape, dtype=np.float32)
    prob_mask[: valid[0], : valid[1]] = 1.0
    canvas = np.zeros(shape, dtype=np.float32)
    thresh_mask = np.zeros(shape, dtype=np.float32)
    if len(polygons):
        polys = shapely.make_valid(np.array([shapely.Polygon(p) for p in polygons],
                                             dtype=object))
        d = shrink_distance(polys, shrink_ratio)
        shrunk = shapely.buffer(polys, -d)
        grown = shapely.buffer(polys, d)
    for i, points in enumerate(polygons):
        if ignore[i] or d[i] <= 0 or shrunk[i].is_empty:
            fill_polygons(prob_mask, [points], 0.0)
            continue
        fill_polygons(prob, [np.asarray(p.exterior.coords) for p in shapely.get_parts(shrunk[i])
                             if isinstance(p, shapely.Polygon)], 1.0)
        band = _largest_polygon(grown[i])
        fill_polygons(thresh_mask, [np.asarray(band.exterior.coords)], 1.0)
        x0, y0, x1, y1 = band.bounds
        x0, y0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
        x1, y1 = min(int(math.ceil(x1)), shape[1]), min(int(math.ceil(y1)), shape[0])
        if x1 <= x0 or y1 <= y0:
            continue
        dist = border_distance(np.asarray(points, dtype=np.float64).reshape(-1, 2),
                               np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        np.maximum(canvas[y0:y1, x0:x1], 1.0 - np.clip(dist / d[i], 0.0, 1.0),
                   out=canvas[y0:y1, x0:x1])
    lo, hi = thresh_range
    return prob, prob_mask, canvas * (hi - lo) + lo, thresh_mask


def seg_losses(prob_logits: torch.Tensor, thresh: torch.Tensor, targets: SegTargets, k: float,
               neg_ratio: float) -> Dict[str, torch.Tensor]:
    """DB's losses, unweighted, of P's logits and T ``(B, H, W)``: ``loss_seg_prob``
    (cross-entropy of the positives and the ``neg_ratio`` x as many hardest negatives),
    ``loss_seg_thresh`` (mean L1 in the bands), ``loss_seg_binary`` (dice of
    ``B = sigmoid(k (P - T))`` against P's targets)."""
    t = targets
    positive, negative = t.prob * t.prob_mask, (1.0 - t.prob) * t.prob_mask
    num_pos = int(positive.sum().item())
    num_neg = min(int(negative.sum().item()), int(num_pos * neg_ratio))
    bce = F.binary_cross_entropy_with_logits(prob_logits, t.prob, reduction="none")
    hardest = (bce * negative).flatten().topk(num_neg).values
    loss_prob = ((bce * positive).sum() + hardest.sum()) / (num_pos + num_neg + 1e-6)

    loss_thresh = ((thresh - t.thresh).abs() * t.thresh_mask).sum() / (t.thresh_mask.sum() + 1e-6)

    binary = torch.sigmoid(k * (prob_logits.sigmoid() - thresh)) * t.prob_mask
    inter = (binary * t.prob).sum()
    loss_binary = 1.0 - 2.0 * inter / (binary.sum() + positive.sum() + 1e-6)
    return {"loss_seg_prob": loss_prob, "loss_seg_thresh": loss_thresh,
            "loss_seg_binary": loss_binary}


def text_regions(prob: torch.Tensor, binarize_thresh: float, box_thresh: float,
                 min_size: float, max_regions: int) -> Tuple[List[np.ndarray], torch.Tensor]:
    """The regions of ``prob`` ``(h, w)`` above ``binarize_thresh`` (8-connected) whose mean
    ``prob`` is >= ``box_thresh`` and whose shorter side (of their rotated rectangle) is >=
    ``min_size``, best first, at most ``max_regions``.

    Returns:
        their outlines (``(K, 2)`` x, y float arrays in pixel coordinates, a pixel ``(i, j)``
        spanning ``[j, j + 1] x [i, i + 1]``) and their mean probabilities ``(N,)``, computed
        from ``prob`` in torch (so that a traced model's outputs depend on it: FLOP counts).
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        (prob.detach().cpu().numpy() > binarize_thresh).astype(np.uint8), connectivity=8)
    area = torch.as_tensor(np.maximum(stats[:, cv2.CC_STAT_AREA], 1), dtype=prob.dtype,
                           device=prob.device)
    index = torch.as_tensor(labels.ravel(), dtype=torch.long, device=prob.device)
    scores = prob.new_zeros(count).index_add_(0, index, prob.flatten()) / area
    ranked = scores.detach().cpu().numpy()
    candidates = np.nonzero(ranked[1:] >= box_thresh)[0] + 1  # label 0: the background
    candidates = candidates[np.argsort(-ranked[candidates], kind="stable")]
    outlines, kept = [], []
    for i in candidates:
        if len(kept) == max_regions:
            break
        x, y, w, h = stats[i, :4]
        inside = (labels[y:y + h, x:x + w] == i).astype(np.uint8)
        contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        contour = max(contours, key=cv2.contourArea)
        if len(contour) < 3 or min(cv2.minAreaRect(contour)[1]) + 1 < min_size:
            continue
        outlines.append(contour.reshape(-1, 2).astype(np.float64) + (x + 0.5, y + 0.5))
        kept.append(i)
    return outlines, scores[torch.as_tensor(kept, dtype=torch.long, device=prob.device)]


def _map_head(in_channels: int, norm: str, num_upsamplings: int) -> nn.Sequential:
    """3x3 conv to ``in_channels / 4``, then ``num_upsamplings`` stride-2 deconvolutions, the
    last to one channel (DB's head, logits)."""
    mid = in_channels // 4
    layers: List[nn.Module] = [Conv2d(in_channels, mid, 3, padding=1, bias=not norm,
                                      norm=get_norm(norm, mid), activation=F.relu)]
    for i in range(num_upsamplings):
        last = i == num_upsamplings - 1
        layers.append(nn.ConvTranspose2d(mid, 1 if last else mid, 2, stride=2))
        if not last:
            layers += [get_norm(norm, mid) or nn.Identity(), nn.ReLU(inplace=True)]
    if num_upsamplings == 0:
        layers.append(Conv2d(mid, 1, 1))
    return nn.Sequential(*layers)


@PROPOSAL_GENERATOR_REGISTRY.register()
class TextSegmentationHead(nn.Module):
    """DB's head on the FPN: the levels ``in_features`` each reduced to ``conv_dim / n``
    channels by a 3x3 conv, upsampled to the finest and concatenated; from them P's and T's
    heads predict at input resolution.

    Training returns ``([], losses)`` (the recognition heads read the ground truth); inference
    returns per image ``Instances`` in the input's coordinates with ``pred_boxes`` (the grown
    polygons' boxes, clipped to the image), ``scores`` (mean P of the region),
    ``pred_classes`` (0) and ``pred_masks`` ``(N, 1, M, M)`` (the grown polygon rasterised
    in its box), and ``{}``. Ground truth: ``gt_masks`` (``PolygonMasks``) and ``gt_texts``,
    all-IGNORE ones being don't-care regions.
    """

    @configurable
    def __init__(
        self,
        *,
        input_shape: Dict[str, ShapeSpec],
        in_features: List[str],
        conv_dim: int = 64,
        norm: str = "BN",
        shrink_ratio: float = 0.4,
        thresh_range: Tuple[float, float] = (0.3, 0.7),
        k: float = 50.0,
        neg_ratio: float = 3.0,
        loss_weights: Optional[Dict[str, float]] = None,
        binarize_thresh: float = 0.3,
        box_thresh: float = 0.6,
        min_size: float = 3.0,
        unclip_ratio: float = 1.0,
        mask_resolution: int = 28,
        max_detections: int = 100,
    ):
        super().__init__()
        level_dim = conv_dim // len(in_features)
        if conv_dim % 4 or level_dim * len(in_features) != conv_dim:
            raise ValueError(f"MODEL.SEG_HEAD.CONV_DIM {conv_dim} must be divisible by 4 and by "
                             f"the number of MODEL.SEG_HEAD.IN_FEATURES {in_features}")
        missing = [f for f in in_features if f not in input_shape]
        if missing:
            raise ValueError(f"MODEL.SEG_HEAD.IN_FEATURES {missing} are not backbone outputs "
                             f"{sorted(input_shape)}")
        stride = min(input_shape[f].stride for f in in_features)
        if stride & (stride - 1):
            raise ValueError(f"MODEL.SEG_HEAD.IN_FEATURES: the finest level's stride {stride} "
                             "is no power of 2")
        self.in_features = in_features
        self.finest = min(in_features, key=lambda f: input_shape[f].stride)
        self.reduce = nn.ModuleList(
            Conv2d(input_shape[f].channels, level_dim, 3, padding=1, bias=not norm,
                   norm=get_norm(norm, level_dim), activation=F.relu) for f in in_features)
        self.prob_head = _map_head(conv_dim, norm, int(math.log2(stride)))
        self.thresh_head = _map_head(conv_dim, norm, int(math.log2(stride)))
        self.shrink_ratio = shrink_ratio
        self.thresh_range = tuple(thresh_range)
        self.k = k
        self.neg_ratio = neg_ratio
        self.loss_weights = loss_weights or {}
        self.binarize_thresh = binarize_thresh
        self.box_thresh = box_thresh
        self.min_size = min_size
        self.unclip_ratio = unclip_ratio
        self.mask_resolution = mask_resolution
        self.max_detections = max_detections

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        seg = cfg.MODEL.SEG_HEAD
        return {
            "input_shape": input_shape,
            "in_features": list(seg.IN_FEATURES),
            "conv_dim": seg.CONV_DIM,
            "norm": seg.NORM,
            "shrink_ratio": seg.SHRINK_RATIO,
            "thresh_range": tuple(seg.THRESH_RANGE),
            "k": seg.K,
            "neg_ratio": seg.NEG_RATIO,
            "loss_weights": {"loss_seg_prob": seg.PROB_LOSS_WEIGHT,
                             "loss_seg_thresh": seg.THRESH_LOSS_WEIGHT,
                             "loss_seg_binary": seg.BINARY_LOSS_WEIGHT},
            "binarize_thresh": seg.BINARIZE_THRESH_TEST,
            "box_thresh": seg.BOX_THRESH_TEST,
            "min_size": seg.MIN_SIZE_TEST,
            "unclip_ratio": seg.UNCLIP_RATIO,
            "mask_resolution": seg.MASK_RESOLUTION,
            "max_detections": cfg.TEST.DETECTIONS_PER_IMAGE,
        }

    def fuse(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, conv_dim, H / s, W / s)``: the levels reduced, at the finest one's size."""
        maps = [conv(features[f]) for f, conv in zip(self.in_features, self.reduce)]
        size = features[self.finest].shape[-2:]
        return torch.cat([m if m.shape[-2:] == size else F.interpolate(m, size=size,
                                                                       mode="nearest")
                          for m in maps], dim=1)

    def forward(self, images: ImageList, features: Dict[str, torch.Tensor],
                gt_instances: Optional[List[Instances]] = None):
        fused = self.fuse(features)
        prob_logits = self.prob_head(fused)[:, 0]  # (B, H, W), H x W the padded input
        if not self.training:
            return self.postprocess(prob_logits.sigmoid(), images.image_sizes), {}
        thresh = self.thresh_head(fused)[:, 0].sigmoid()
        targets = self.targets(gt_instances, tuple(prob_logits.shape[-2:]), images.image_sizes)
        losses = seg_losses(prob_logits.float(), thresh.float(), targets, self.k,
                            self.neg_ratio)
        return [], {name: loss * self.loss_weights.get(name, 1.0)
                    for name, loss in losses.items()}

    def targets(self, gt_instances: List[Instances], shape: Tuple[int, int],
                image_sizes: List[Tuple[int, int]]) -> SegTargets:
        """:func:`seg_targets` of each image, stacked on the maps' device."""
        if gt_instances is None or not all(x.has("gt_masks") for x in gt_instances):
            raise ValueError("TextSegmentationHead trains on polygon ground truth: set "
                             "MODEL.MASK_ON=True and INPUT.MASK_FORMAT='polygon'")
        per_image = []
        for gts, size in zip(gt_instances, image_sizes):
            if not isinstance(gts.gt_masks, PolygonMasks):
                raise ValueError("TextSegmentationHead needs polygon masks: set "
                                 "INPUT.MASK_FORMAT='polygon'")
            dont_care = (gts.gt_texts[:, 0] == IGNORE).tolist()
            polygons, ignore = [], []
            for parts, dc in zip(gts.gt_masks.polygons, dont_care):
                polygons += [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in parts]
                ignore += [dc] * len(parts)
            per_image.append(seg_targets(polygons, ignore, shape, tuple(size),
                                         self.shrink_ratio, self.thresh_range))
        device = gt_instances[0].gt_texts.device
        return SegTargets(*(torch.from_numpy(np.stack(maps)).to(device)
                            for maps in zip(*per_image)))

    def postprocess(self, prob: torch.Tensor, image_sizes: List[Tuple[int, int]]
                    ) -> List[Instances]:
        """Per image, the words of P ``(B, H, W)`` (:func:`text_regions`, :func:`unclip`)."""
        results = []
        for p, (h, w) in zip(prob, image_sizes):
            outlines, scores = text_regions(p[:h, :w].float(), self.binarize_thresh,
                                            self.box_thresh, self.min_size, self.max_detections)
            grown = (unclip(np.array([shapely.Polygon(o) for o in outlines], dtype=object),
                            self.shrink_ratio, self.unclip_ratio)
                     if outlines else np.zeros(0, dtype=object))
            boxes = shapely.bounds(grown).reshape(-1, 4) if len(grown) else np.zeros((0, 4))
            boxes = np.clip(boxes, 0, [w, h, w, h])
            keep = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            boxes = torch.as_tensor(boxes[keep], dtype=torch.float32, device=p.device)
            polygons = PolygonMasks([[np.asarray(g.exterior.coords).ravel()]
                                     for g in grown[keep]])
            masks = polygons.crop_and_resize(boxes, self.mask_resolution) if len(boxes) else \
                torch.zeros(0, self.mask_resolution, self.mask_resolution, device=p.device)
            instances = Instances((h, w))
            instances.pred_boxes = Boxes(boxes)
            instances.scores = scores[torch.as_tensor(keep, device=p.device)]
            instances.pred_classes = torch.zeros(len(boxes), dtype=torch.long, device=p.device)
            instances.pred_masks = masks[:, None].float()
            results.append(instances)
        return results
