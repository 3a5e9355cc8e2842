"""``RecognitionPretrainer``: the spotter's backbone and recognizer trained on ground-truth
words alone, the synthetic counterpart of the paper's SynthText pre-training (§4.1)."""
from __future__ import annotations

from typing import List, Tuple

import torch
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from .text_spotter import TextSpotter


@META_ARCH_REGISTRY.register()
class RecognitionPretrainer(TextSpotter):
    """A :class:`TextSpotter` whose training reads the readable ground-truth words of its
    inputs (word crops or whole scenes) through the spotter's own recognition path: backbone,
    RoI pooling of the ground-truth boxes, RoI-Masking with the ground-truth masks, recognizer.

    Only the backbone and the recognition branch learn (``loss_rec``), or the branch alone with
    ``freeze_backbone``; the detector's parts (the RPN, box and mask heads, or the
    ``TextSegmentationHead`` of ``MODEL.PROPOSAL_GENERATOR.NAME``) are built but frozen, so
    that its checkpoint has the spotter's keys and the spotter's config fine-tunes from it (or,
    after ``freeze_backbone``, reads with it) with ``MODEL.WEIGHTS``. Inference is the
    spotter's.
    """

    @configurable
    def __init__(self, *, freeze_backbone: bool = False, **kwargs):
        """
        Args:
            freeze_backbone: the backbone neither learns nor updates its BatchNorm statistics
                (``MODEL.REC_PRETRAIN.FREEZE_BACKBONE``): the recognizer of a trained spotter
                learns on, its detection stays as it is.
        """
        super().__init__(**kwargs)
        self.freeze_backbone = freeze_backbone
        self.requires_grad_(False)
        learning = [self.roi_heads.rec_pooler, self.roi_heads.recognizer]
        for module in learning + ([] if freeze_backbone else [self.backbone]):
            module.requires_grad_(True)

    @classmethod
    def from_config(cls, cfg):
        return {**super().from_config(cfg),
                "freeze_backbone": cfg.MODEL.REC_PRETRAIN.FREEZE_BACKBONE}

    def train(self, mode: bool = True):
        """``nn.Module.train``, the frozen backbone staying in eval mode."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        features, targets = self._features_and_targets(batched_inputs)
        return self.roi_heads._forward_recognition(features,
                                                   self.roi_heads.training_rois(targets))

    def _features_and_targets(self, batched_inputs: List[dict]):
        """Backbone features of the inputs and their ground truth."""
        images = self.preprocess_image(batched_inputs)
        targets = [x["instances"].to(self.device) for x in batched_inputs]
        return self.backbone(images.tensor), targets

    @torch.no_grad()
    def read_ground_truth(self, batched_inputs: List[dict]) -> List[Tuple[str, str]]:
        """(transcription, greedy reading) of each readable ground-truth word of
        ``batched_inputs``, read from its box and mask as in training."""
        features, targets = self._features_and_targets(batched_inputs)
        rois = self.roi_heads.gt_recognition_rois(targets)
        if sum(len(r) for r in rois) == 0:
            return []
        heads = self.roi_heads
        readings = heads.charset.decode_batch(
            heads.recognizer.decode(heads.masked_roi_features(features, rois), 1).ids)
        truths = heads.charset.decode_batch(torch.cat([r.gt_texts for r in rois]).cpu())
        return list(zip(truths, readings))
