"""High- versus low-resolution feature distances (the paper's Table A2).

For every readable ground-truth word of a data set, the RoI feature ``F_roi`` (masked 8×32
RoI features, ``(C, Hr, Wr)``) and the contextual feature ``F_con`` (BiLSTM outputs,
``(L, E)``) are taken from a reference model at the high resolution and from a model at a
low resolution, with the same ground-truth masks; each feature is flattened and scaled to
unit L2 norm, and the distance is the L2 norm of the difference (0 = same direction,
sqrt(2) = orthogonal), averaged over the words. The paper does not define its normalisation;
this one is scale-free, so models whose features differ in magnitude compare fairly.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F
from detectron2.structures import Instances, PolygonMasks
from torch import nn

from ..modeling.dld import DLDSpotter
from ..modeling.modes import eval_mode
from ..modeling.rescale import scale_instances
from .recognition import annotation_boxes, care_annotations

__all__ = ["gt_rois", "word_features", "feature_distances"]


def gt_rois(inp: dict, annotations: list[dict]) -> Instances:
    """The annotations as recognition RoIs (``proposal_boxes``, ``gt_masks``) in the
    coordinates of ``inp["image"]``."""
    rois = Instances(tuple(inp["image"].shape[1:]))
    rois.proposal_boxes = annotation_boxes(inp, annotations)
    _, height, width = inp["image"].shape
    polygons = PolygonMasks([[list(map(float, p)) for p in a["segmentation"]]
                             for a in annotations])
    rois.gt_masks = scale_instances(Instances((inp["height"], inp["width"]), masks=polygons),
                                    (height, width),
                                    (width / inp["width"], height / inp["height"])).masks
    return rois


@torch.no_grad()
def word_features(model: nn.Module, batch: list[dict], rois: list[Instances],
                  scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``model``'s ``F_roi`` ``(N, C*Hr*Wr)`` and ``F_con`` ``(N, L*E)`` of ``rois`` (in
    input coordinates) with the inputs resized by ``scale``."""
    spotter = model.spotter if isinstance(model, DLDSpotter) else model
    with eval_mode(spotter):
        images = spotter.preprocess_image(batch)
        small, factors = spotter.rescale(images, [scale] * len(batch))
        scaled = [scale_instances(r.to(spotter.device), size, f)
                  for r, size, f in zip(rois, small.image_sizes, factors)]
        features = spotter.extract_features(small.tensor)
        roi = spotter.recognition_features(features, scaled)
        con = spotter.text_recognizer.encode(roi)
    return roi.flatten(1), con.flatten(1)


def _unit_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(N,)`` L2 distance between the rows of ``a`` and ``b`` scaled to unit norm."""
    return (F.normalize(a, dim=1) - F.normalize(b, dim=1)).norm(dim=1)


def feature_distances(
    high_model: nn.Module,
    low_model: nn.Module,
    data_loader: Iterable[list[dict]],
    dataset_dicts: Mapping,
    low_scale: float = 0.5,
    high_scale: float = 1.0,
) -> dict[str, float]:
    """Mean unit-norm L2 distances between ``high_model`` at ``high_scale`` and ``low_model``
    at ``low_scale`` over the readable ground-truth words of the loader's images.

    Returns:
        ``{"roi_l2": ..., "con_l2": ..., "num_words": ...}``.
    """
    roi_d, con_d = [], []
    for batch in data_loader:
        annotations = [care_annotations(dataset_dicts[x["image_id"]]) for x in batch]
        keep = [i for i, a in enumerate(annotations) if a]
        if not keep:
            continue
        batch = [batch[i] for i in keep]
        rois = [gt_rois(x, annotations[i]) for x, i in zip(batch, keep)]
        hi_roi, hi_con = word_features(high_model, batch, rois, high_scale)
        lo_roi, lo_con = word_features(low_model, batch, rois, low_scale)
        roi_d.append(_unit_distance(lo_roi, hi_roi))
        con_d.append(_unit_distance(lo_con, hi_con))
    if not roi_d:
        raise ValueError("feature_distances: the data set has no readable ground-truth word")
    roi_all, con_all = torch.cat(roi_d), torch.cat(con_d)
    return {"roi_l2": roi_all.mean().item(), "con_l2": con_all.mean().item(),
            "num_words": float(len(roi_all))}
