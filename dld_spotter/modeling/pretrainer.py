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

    Only the backbone and the recognizer learn (``loss_rec``); the RPN, box and mask heads are
    built but frozen, so that its checkpoint has the spotter's keys and a
    ``TextSpotter`` config fine-tunes from it with ``MODEL.WEIGHTS``. Inference is the
    spotter's.
    """

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for module in (self.proposal_generator, self.roi_heads.box_head,
                       self.roi_heads.box_predictor, self.roi_heads.mask_head):
            module.requires_grad_(False)

    def forward(self, batched_inputs: List[dict]):
        if not self.training:
            return super().forward(batched_inputs)
        features, rois = self._ground_truth_rois(batched_inputs)
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
