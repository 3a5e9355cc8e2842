"""The traceable pieces of a spotter that become ONNX graphs (:mod:`dld_spotter.export`).

Each graph is an ``nn.Module`` over the trained model's own submodules (no copy of their
weights or code); what stays outside them runs on the host (:mod:`.runtime`). Shapes: ``N``
detections, ``C`` channels of the recognition features, ``(Hr, Wr)`` their RoI size, ``M``
the mask head's resolution, ``L = Wr`` encoder steps, ``E`` their channels, ``A`` the
attention size, ``D`` the decoder state, ``K`` classes, ``k`` candidate scales, ``t`` the
selector's thumbnail size.
"""
from __future__ import annotations

from typing import Tuple

import torch
from detectron2.structures import ImageList
from torch import nn

# The ONNX file of each graph, in the export folder.
DETECTOR = "detector.onnx"
ENCODER = "encoder.onnx"
DECODER_START = "decoder_start.onnx"
DECODER_STEP = "decoder_step.onnx"
SELECTOR = "selector.onnx"


class DetectorGraph(nn.Module):
    """Backbone, RPN, box head (NMS and containment filter included), mask head and the
    recognition branch's RoI-Masking.

    ``image`` ``(1, 3, H, W)``, normalised and padded as the backbone reads it, and its
    unpadded ``image_size`` ``(2,)`` (height, width) -> ``boxes`` ``(N, 4)`` XYXY,
    ``scores`` ``(N,)``, ``classes`` ``(N,)``, ``masks`` ``(N, 1, M, M)`` probabilities
    and ``rec_features`` ``(N, C, Hr, Wr)`` (``F_roi``), in the image's coordinates.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.backbone = model.backbone
        self.proposal_generator = model.proposal_generator
        self.roi_heads = model.roi_heads

    def forward(self, image: torch.Tensor, image_size: torch.Tensor
                ) -> Tuple[torch.Tensor, ...]:
        images = ImageList(image, [image_size])
        features = self.backbone(image)
        proposals, _ = self.proposal_generator(images, features, None)
        instances = self.roi_heads._forward_box(features, proposals)
        instances = self.roi_heads._forward_mask(features, instances)
        rec_features = self.roi_heads.masked_roi_features(features, instances)
        (x,) = instances
        return x.pred_boxes.tensor, x.scores, x.pred_classes, x.pred_masks, rec_features


class EncoderGraph(nn.Module):
    """The recognizer's encoder (convs and BiLSTM): ``rec_features`` ``(N, C, Hr, Wr)`` ->
    ``enc`` ``(N, L, E)`` (``F_con``)."""

    def __init__(self, recognizer: nn.Module):
        super().__init__()
        self.recognizer = recognizer

    def forward(self, rec_features: torch.Tensor) -> torch.Tensor:
        return self.recognizer.encode(rec_features)


class DecoderStartGraph(nn.Module):
    """The attention decoder's start: ``enc`` ``(N, L, E)`` -> initial ``state`` ``(N, D)``
    and projected ``keys`` ``(N, L, A)``."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, enc: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.decoder.start(enc)


class DecoderStepGraph(nn.Module):
    """One decoding step: ``enc`` ``(N, L, E)``, ``keys`` ``(N, L, A)``, ``state``
    ``(N, D)``, the previous classes ``prev`` ``(N,)`` and the step ``t`` ``()`` ->
    ``logits`` ``(N, K)`` and the new ``state`` ``(N, D)``."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        self.decoder = decoder

    def forward(self, enc: torch.Tensor, keys: torch.Tensor, state: torch.Tensor,
                prev: torch.Tensor, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits, state, _, _ = self.decoder.step(enc, keys, state, prev, t)
        return logits, state


class SelectorGraph(nn.Module):
    """A DLD student's Dynamic Resolution Selector: ``thumbnails`` ``(N, 3, t, t)`` ->
    log-probabilities ``(N, k)`` of the candidate scales."""

    def __init__(self, selector: nn.Module):
        super().__init__()
        self.selector = selector

    def forward(self, thumbnails: torch.Tensor) -> torch.Tensor:
        return self.selector(thumbnails)
