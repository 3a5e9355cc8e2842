"""RoI heads that read text: :class:`RecognitionBranch` (the recognition branch of §3.2: RoI
pooling, RoI-Masking, recognizer), :class:`TextROIHeads` (Mask R-CNN's box and mask heads plus
the branch) and :class:`TextRecognitionHeads` (the branch alone, reading the instances of
another detector, e.g. ``TextSegmentationHead``)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import ShapeSpec, cat
from detectron2.modeling import ROI_HEADS_REGISTRY, StandardROIHeads
from detectron2.modeling.roi_heads.roi_heads import select_foreground_proposals
from detectron2.structures import Boxes, Instances
from detectron2.structures.boxes import matched_pairwise_iou, pairwise_ioa
from detectron2.utils.events import get_event_storage
from torch import nn

from ..charset import IGNORE, Charset, build_charset
from ..structures import TextList
from .poolers import DeconvROIPooler, RectROIPooler
from .recognizer import build_recognizer


def contained_detections(boxes: Boxes, scores: torch.Tensor, thresh: float) -> torch.Tensor:
    """``(N,)`` bool: the detections lying more than ``thresh`` of their area inside a
    higher-scoring detection (fragments of a word beside the whole word, which box NMS keeps
    because their IoU with it is small). ``thresh >= 1`` marks none."""
    n = len(boxes)
    if thresh >= 1.0 or n < 2:
        return torch.zeros(n, dtype=torch.bool, device=scores.device)
    inside = pairwise_ioa(boxes, boxes).T  # [i, j]: fraction of box i inside box j
    # [i, j]: j ranks above i, by score, of equal scores the earlier (a stable sort's order;
    # written without a sort so that the box head traces for ONNX: dld_spotter/export)
    earlier = torch.ones_like(inside, dtype=torch.bool).tril(-1)
    s_i, s_j = scores[:, None], scores[None, :]
    higher = (s_j > s_i) | ((s_j == s_i) & earlier)
    return ((inside > thresh) & higher).any(dim=1)


def jitter_boxes(boxes: torch.Tensor, sigma: Sequence[float],
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``(N, 4)`` XYXY ``boxes`` with each side moved by a normal deviate clipped to ±2σ:
    ``sigma`` = (σ of x0 and x1, σ of y0 and y1) in units of each box's height. A box keeps at
    least half its width and height (about its new centre)."""
    if not any(sigma):
        return boxes
    height = (boxes[:, 3] - boxes[:, 1]).clamp(min=1.0)
    scale = boxes.new_tensor([sigma[0], sigma[1], sigma[0], sigma[1]])
    noise = torch.randn(boxes.shape, generator=generator, device=boxes.device, dtype=boxes.dtype)
    moved = boxes + noise.clamp(-2.0, 2.0) * scale * height[:, None]
    centre = (moved[:, :2] + moved[:, 2:]) / 2
    half = torch.maximum(moved[:, 2:] - moved[:, :2], (boxes[:, 2:] - boxes[:, :2]) / 2) / 2
    return torch.cat([centre - half, centre + half], dim=1)


def confirmed_detections(instances: Instances, score_thresh: float) -> Instances:
    """The read detections whose reading scores at least ``score_thresh`` (``text_scores``
    ``(N,)``): the recognizer confirms them as words; all of them at ``score_thresh`` <= 0."""
    if score_thresh <= 0:
        return instances
    return instances[instances.text_scores >= score_thresh]


class RecognitionBranch:
    """The recognition branch of RoI heads that read text (a mixin of ``nn.Module`` heads).

    RoI-Masking: features pooled to ``(Hr, Wr)`` from the levels ``rec_in_features`` are
    multiplied by the instance mask resized to ``(Hr, Wr)``: the ground-truth mask in training,
    the predicted mask probability at inference. Don't-care instances (all-IGNORE ``gt_texts``)
    and words lower than ``rec_min_height`` input pixels (``gt_text_heights``) never train
    recognition; training reads the others from their boxes jittered by ``rec_box_jitter``
    (:func:`jitter_boxes`), as the spotter reads from detected boxes. Detections whose reading
    scores below ``rec_score_thresh`` are dropped (:meth:`confirmed`). A subclass calls
    :meth:`_init_recognition` in its ``__init__`` with the arguments of :meth:`_init_rec_head`.
    """

    def _init_recognition(
        self,
        *,
        rec_in_features: List[str],
        rec_pooler: Union[RectROIPooler, DeconvROIPooler],
        recognizer: nn.Module,
        charset: Charset,
        rec_masking: bool = True,
        rec_loss_weight: float = 1.0,
        rec_max_rois_per_image: int = 64,
        rec_min_height: float = 0.0,
        rec_box_jitter: Sequence[float] = (0.0, 0.0),
        rec_score_thresh: float = 0.0,
    ) -> None:
        self.rec_in_features = rec_in_features
        self.rec_pooler = rec_pooler
        self.recognizer = recognizer
        self.charset = charset
        self.rec_masking = rec_masking
        self.rec_loss_weight = rec_loss_weight
        self.rec_max_rois_per_image = rec_max_rois_per_image
        self.rec_min_height = rec_min_height
        self.rec_box_jitter = tuple(rec_box_jitter)
        self.rec_score_thresh = rec_score_thresh

    @classmethod
    def _init_rec_head(cls, cfg, input_shape: Dict[str, ShapeSpec]) -> Dict[str, Any]:
        """The arguments of :meth:`_init_recognition` from ``MODEL.REC_HEAD`` (the pooler
        and the recognizer are built here, in this order)."""
        rec = cfg.MODEL.REC_HEAD
        in_features = list(rec.IN_FEATURES) or list(cfg.MODEL.ROI_HEADS.IN_FEATURES)
        channels = {input_shape[f].channels for f in in_features}
        if len(channels) != 1:
            raise ValueError(f"REC_HEAD.IN_FEATURES {in_features} have different channels")
        (channels,) = channels
        resolution, deconv_from = tuple(rec.POOLER_RESOLUTION), tuple(rec.DECONV_FROM)
        if deconv_from and (2 * deconv_from[0], 2 * deconv_from[1]) != resolution:
            raise ValueError(f"MODEL.REC_HEAD.DECONV_FROM {deconv_from} must be half of "
                             f"MODEL.REC_HEAD.POOLER_RESOLUTION {resolution}")
        pooler = RectROIPooler(
            output_size=deconv_from or resolution,
            scales=tuple(1.0 / input_shape[f].stride for f in in_features),
            sampling_ratio=rec.POOLER_SAMPLING_RATIO,
            pooler_type=rec.POOLER_TYPE,
        )
        if deconv_from:
            pooler = DeconvROIPooler(pooler, channels)
        return {
            "rec_in_features": in_features,
            "rec_pooler": pooler,
            "recognizer": build_recognizer(cfg, channels),
            "charset": build_charset(cfg),
            "rec_masking": rec.MASKING,
            "rec_loss_weight": rec.LOSS_WEIGHT,
            "rec_max_rois_per_image": rec.MAX_TRAIN_ROIS_PER_IMAGE,
            "rec_min_height": rec.MIN_TRAIN_HEIGHT,
            "rec_box_jitter": rec.BOX_JITTER,
            "rec_score_thresh": rec.SCORE_THRESH_TEST,
        }

    def readable(self, instances: Instances) -> torch.Tensor:
        """``(N,)`` bool: the ``gt_*`` instances that train recognition (care, legible)."""
        keep = instances.gt_texts[:, 0] != IGNORE
        if self.rec_min_height > 0 and instances.has("gt_text_heights"):
            keep &= instances.gt_text_heights >= self.rec_min_height
        return keep

    def confirmed(self, instances: List[Instances]) -> List[Instances]:
        """:func:`confirmed_detections` of each image at ``rec_score_thresh``."""
        return [confirmed_detections(x, self.rec_score_thresh) for x in instances]

    @staticmethod
    def _as_rois(instances: Instances, boxes) -> Instances:
        return Instances(instances.image_size, proposal_boxes=boxes,
                         gt_masks=instances.gt_masks, gt_texts=instances.gt_texts)

    def gt_recognition_rois(self, targets: List[Instances]) -> List[Instances]:
        """Per image, the readable ground truth as recognition RoIs (``proposal_boxes``,
        ``gt_masks``, ``gt_texts``), at most ``rec_max_rois_per_image``."""
        rois = []
        for gts in targets:
            gts = gts[self.readable(gts)][: self.rec_max_rois_per_image]
            rois.append(self._as_rois(gts, gts.gt_boxes))
        return rois

    def training_rois(self, targets: List[Instances]) -> List[Instances]:
        """:meth:`gt_recognition_rois` with their boxes jittered by ``rec_box_jitter``: the
        RoIs that train recognition."""
        rois = self.gt_recognition_rois(targets)
        for r in rois:
            r.proposal_boxes = Boxes(jitter_boxes(r.proposal_boxes.tensor, self.rec_box_jitter))
        return rois

    def roi_masks(self, instances: List[Instances]) -> torch.Tensor:
        """Instance masks in RoI coordinates, ``(N, 1, Hr, Wr)`` in [0, 1]: the ground truth
        (``gt_masks``) where the instances carry it, else the predicted ``pred_masks``."""
        hr, wr = self.rec_pooler.output_size
        if instances[0].has("gt_masks"):
            side = max(hr, wr)
            boxes = [x.proposal_boxes.tensor for x in instances]
            masks = [x.gt_masks.crop_and_resize(b, side) for x, b in zip(instances, boxes)]
            masks = cat(masks, dim=0).float()[:, None]
        else:
            masks = cat([x.pred_masks for x in instances], dim=0)  # (N, 1, M, M) probabilities
        return F.interpolate(masks, size=(hr, wr), mode="bilinear", align_corners=False)

    def masked_roi_features(
        self, features: Dict[str, torch.Tensor], instances: List[Instances]
    ) -> torch.Tensor:
        """``F_roi``: RoI-Masked recognition features ``(N, C, Hr, Wr)`` of the instances'
        ``proposal_boxes`` (training) or ``pred_boxes`` (inference)."""
        boxes = [x.proposal_boxes if x.has("proposal_boxes") else x.pred_boxes for x in instances]
        roi_features = self.rec_pooler([features[f] for f in self.rec_in_features], boxes)
        if self.rec_masking:
            roi_features = roi_features * self.roi_masks(instances)
        return roi_features

    def _forward_recognition(self, features: Dict[str, torch.Tensor], instances: List[Instances]):
        num_rois = sum(len(x) for x in instances)
        if self.training:
            get_event_storage().put_scalar("rec_head/num_rois", num_rois / max(len(instances), 1))
            if num_rois == 0:  # keep every parameter in the graph (DDP)
                zero = sum(p.sum() for p in self.recognizer.parameters()) * 0.0
                return {name: zero for name in self.recognizer.loss_names}
            targets = cat([x.gt_texts for x in instances], dim=0)
            losses = self.recognizer.losses(self.masked_roi_features(features, instances),
                                            targets)
            return {k: v * self.rec_loss_weight for k, v in losses.items()}

        if num_rois == 0:
            decoded_texts, scores = [], torch.zeros(0)
        else:
            decoded = self.recognizer.decode(self.masked_roi_features(features, instances))
            decoded_texts, scores = self.charset.decode_batch(decoded.ids), decoded.scores
        start = 0
        for x in instances:
            end = start + len(x)
            x.pred_texts = TextList(decoded_texts[start:end])
            x.text_scores = scores[start:end].to(x.pred_boxes.device)
            start = end
        return instances


@ROI_HEADS_REGISTRY.register()
class TextROIHeads(RecognitionBranch, StandardROIHeads):
    """Standard box + mask heads, and a recognizer on RoI-Masked features
    (:class:`RecognitionBranch`).

    Training RoIs for recognition are the ground-truth boxes plus foreground proposals that
    overlap their ground truth well; don't-care and too low words train detection only. At
    inference,
    detections more than ``containment_thresh`` inside a higher-scoring one are dropped after
    box NMS (:func:`contained_detections`).
    """

    @configurable
    def __init__(
        self,
        *,
        rec_in_features: List[str],
        rec_pooler: Union[RectROIPooler, DeconvROIPooler],
        recognizer: nn.Module,
        charset: Charset,
        rec_masking: bool = True,
        rec_loss_weight: float = 1.0,
        rec_proposals_per_image: int = 16,
        rec_proposal_iou: float = 0.7,
        rec_max_rois_per_image: int = 64,
        rec_min_height: float = 0.0,
        rec_box_jitter: Sequence[float] = (0.0, 0.0),
        rec_score_thresh: float = 0.0,
        containment_thresh: float = 1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not self.mask_on:
            raise ValueError("TextROIHeads needs the mask head: set MODEL.MASK_ON=True")
        self._init_recognition(
            rec_in_features=rec_in_features, rec_pooler=rec_pooler, recognizer=recognizer,
            charset=charset, rec_masking=rec_masking, rec_loss_weight=rec_loss_weight,
            rec_max_rois_per_image=rec_max_rois_per_image, rec_min_height=rec_min_height,
            rec_box_jitter=rec_box_jitter, rec_score_thresh=rec_score_thresh)
        self.rec_proposals_per_image = rec_proposals_per_image
        self.rec_proposal_iou = rec_proposal_iou
        self.containment_thresh = containment_thresh

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        ret = super().from_config(cfg, input_shape)
        ret.update(cls._init_rec_head(cfg, input_shape))
        ret["rec_proposals_per_image"] = cfg.MODEL.REC_HEAD.PROPOSALS_PER_IMAGE
        ret["rec_proposal_iou"] = cfg.MODEL.REC_HEAD.PROPOSAL_IOU
        ret["containment_thresh"] = cfg.MODEL.ROI_HEADS.CONTAINMENT_THRESH_TEST
        return ret

    def forward(
        self,
        images,
        features: Dict[str, torch.Tensor],
        proposals: List[Instances],
        targets: Optional[List[Instances]] = None,
    ) -> Tuple[List[Instances], Dict[str, torch.Tensor]]:
        """``StandardROIHeads.forward``, plus ``loss_rec`` (and ``loss_ctc``) in training;
        inference reads text in :meth:`forward_with_given_boxes` and keeps the
        :meth:`confirmed` detections."""
        instances, losses = super().forward(images, features, proposals, targets)
        if not self.training:
            return self.confirmed(instances), losses
        rois = self.recognition_rois(instances, targets)
        losses.update(self._forward_recognition(features, rois))
        return instances, losses

    def _forward_box(self, features: Dict[str, torch.Tensor], proposals: List[Instances]):
        """``StandardROIHeads._forward_box``; at inference without contained detections."""
        out = super()._forward_box(features, proposals)
        if self.training:
            return out
        return [x[~contained_detections(x.pred_boxes, x.scores, self.containment_thresh)]
                for x in out]

    def forward_with_given_boxes(
        self, features: Dict[str, torch.Tensor], instances: List[Instances]
    ) -> List[Instances]:
        """Masks, then texts, for the given ``pred_boxes``."""
        instances = super().forward_with_given_boxes(features, instances)
        return self._forward_recognition(features, instances)

    def recognition_rois(
        self, proposals: List[Instances], targets: List[Instances]
    ) -> List[Instances]:
        """Per image: :meth:`training_rois`, then up to ``rec_proposals_per_image``
        random foreground ``proposals`` (labelled) of readable words with IoU >=
        ``rec_proposal_iou`` to their ground truth; at most ``rec_max_rois_per_image``."""
        rois = self.training_rois(targets)
        if self.rec_proposals_per_image <= 0:
            return rois
        foreground, _ = select_foreground_proposals(proposals, self.num_classes)
        for i, fg in enumerate(foreground):
            if not fg.has("gt_texts"):  # an image without ground truth
                continue
            iou = matched_pairwise_iou(fg.proposal_boxes, fg.gt_boxes)
            fg = fg[(iou >= self.rec_proposal_iou) & self.readable(fg)]
            fg = fg[torch.randperm(len(fg), device=iou.device)[: self.rec_proposals_per_image]]
            rois[i] = Instances.cat([rois[i], self._as_rois(fg, fg.proposal_boxes)])
            rois[i] = rois[i][: self.rec_max_rois_per_image]
        return rois


@ROI_HEADS_REGISTRY.register()
class TextRecognitionHeads(RecognitionBranch, nn.Module):
    """The recognition branch alone (:class:`RecognitionBranch`), for a detector that finds the
    words itself (the ``proposal_generator``, e.g. ``TextSegmentationHead``): training reads the
    readable ground-truth words (:meth:`training_rois`), inference reads the detector's
    ``Instances`` (``pred_boxes``, ``pred_masks`` ``(N, 1, M, M)`` in box coordinates).

    Its parameters have the names of :class:`TextROIHeads`' branch (``rec_pooler.*``,
    ``recognizer.*``), so that a ``TextSpotter`` checkpoint initialises it. Given boxes
    (:meth:`forward_with_given_boxes`) come without a detector's masks: they are read with
    all-ones masks, i.e. the whole box.
    """

    @configurable
    def __init__(self, **kwargs):
        """
        Args:
            kwargs: the arguments of :meth:`RecognitionBranch._init_recognition`.
        """
        super().__init__()
        self._init_recognition(**kwargs)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        return cls._init_rec_head(cfg, input_shape)

    def forward(
        self,
        images,
        features: Dict[str, torch.Tensor],
        proposals: List[Instances],
        targets: Optional[List[Instances]] = None,
    ) -> Tuple[List[Instances], Dict[str, torch.Tensor]]:
        """Training: ``([], {"loss_rec": ...})`` on the ground truth ``targets``; inference:
        the :meth:`confirmed` ``proposals`` (the detector's words) with ``pred_texts`` and
        ``text_scores``, ``{}``."""
        if self.training:
            return [], self._forward_recognition(features, self.training_rois(targets))
        return self.confirmed(self._forward_recognition(features, proposals)), {}

    def forward_with_given_boxes(
        self, features: Dict[str, torch.Tensor], instances: List[Instances]
    ) -> List[Instances]:
        """Texts of the given ``pred_boxes``, each read in its whole box: ``pred_masks`` are
        ones ``(N, 1, 1, 1)`` (the detector's masks are not computed for given boxes)."""
        assert not self.training
        for x in instances:
            x.pred_masks = torch.ones(len(x), 1, 1, 1, device=x.pred_boxes.device)
        return self._forward_recognition(features, instances)
