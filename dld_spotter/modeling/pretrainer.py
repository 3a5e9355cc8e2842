"""``RecognitionPretrainer``: the spotter's backbone and recognizer trained on ground-truth
words alone, the synthetic counterpart of the paper's SynthText pre-training (§4.1)."""
from __future__ import annotations

from typing import List, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY
from detectron2.structures import Boxes

from .text_spotter import TextSpotter


def jitter_boxes(boxes: torch.Tensor, sigma: Tuple[float, float],
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


@META_ARCH_REGISTRY.register()
class RecognitionPretrainer(TextSpotter):
    """A :class:`TextSpotter` whose training reads the readable ground-truth words of its
    inputs (word crops or whole scenes) through the spotter's own recognition path: backbone,
    RoI pooling of the ground-truth boxes, RoI-Masking with the ground-truth masks, recognizer.

    Only the backbone and the recognizer learn (``loss_rec``), or the recognizer alone with
    ``freeze_backbone``; the RPN, box and mask heads are built but frozen, so that its
    checkpoint has the spotter's keys and a ``TextSpotter`` config fine-tunes from it (or, after
    ``freeze_backbone``, reads with it) with ``MODEL.WEIGHTS``. Inference is the
    spotter's.
    """

    @configurable
    def __init__(self, *, freeze_backbone: bool = False,
                 box_jitter: Tuple[float, float] = (0.0, 0.0), **kwargs):
        """
        Args:
            freeze_backbone: the backbone neither learns nor updates its BatchNorm statistics
                (``MODEL.REC_PRETRAIN.FREEZE_BACKBONE``): the recognizer of a trained spotter
                learns on, its detection stays as it is.
            box_jitter: training reads each word from its ground-truth box jittered by
                :func:`jitter_boxes` with these σ (``MODEL.REC_PRETRAIN.BOX_JITTER``), as the
                spotter reads from detected boxes.
        """
        super().__init__(**kwargs)
        self.freeze_backbone = freeze_backbone
        self.box_jitter = tuple(box_jitter)
        frozen = [self.proposal_generator, self.roi_heads.box_head,
                  self.roi_heads.box_predictor, self.roi_heads.mask_head]
        for module in frozen + ([self.backbone] if freeze_backbone else []):
            module.requires_grad_(False)

    @classmethod
    def from_config(cls, cfg):
        return {**super().from_config(cfg),
                "freeze_backbone": cfg.MODEL.REC_PRETRAIN.FREEZE_BACKBONE,
                "box_jitter": cfg.MODEL.REC_PRETRAIN.BOX_JITTER}

    def train(self, mode: bool = True):
        """``nn.Module.train``, the frozen backbone staying in eval mode."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        features, rois = self._ground_truth_rois(batched_inputs)
        for r in rois:
            r.proposal_boxes = Boxes(jitter_boxes(r.proposal_boxes.tensor, self.box_jitter))
        return self.roi_heads._forward_recognition(features, rois)

    def _ground_truth_rois(self, batched_inputs: List[dict]):
        """Backbone features of the inputs and their readable ground truth as RoIs."""
        images = self.preprocess_image(batched_inputs)
        targets = [x["instances"].to(self.device) for x in batched_inputs]
        features = self.backbone(images.tensor)
        return features, self.roi_heads.gt_recognition_rois(targets)

    @torch.no_grad()
    def read_ground_truth(self, batched_inputs: List[dict]) -> List[Tuple[str, str]]:
        """(transcription, greedy reading) of each readable ground-truth word of
        ``batched_inputs``, read from its box and mask as in training."""
        features, rois = self._ground_truth_rois(batched_inputs)
        if sum(len(r) for r in rois) == 0:
            return []
        heads = self.roi_heads
        readings = heads.charset.decode_batch(
            heads.recognizer.decode(heads.masked_roi_features(features, rois), 1).ids)
        truths = heads.charset.decode_batch(torch.cat([r.gt_texts for r in rois]).cpu())
        return list(zip(truths, readings))
