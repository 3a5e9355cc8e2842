"""``TextSpotter``: the Mask R-CNN end-to-end text spotter of §3.2 (teacher and baseline), and
the distillation interface that DLD (``dld.py``) reads of any spotter."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN
from detectron2.structures import ImageList, Instances
from torch import nn

from .rescale import resize_image_list
from .roi_heads import RecognitionBranch


@META_ARCH_REGISTRY.register()
class TextSpotter(GeneralizedRCNN):
    """A ``GeneralizedRCNN`` whose RoI heads read text.

    Training returns detection losses plus ``loss_rec``; inference returns, per image,
    ``Instances`` in the input's original size with ``pred_boxes``, ``scores``,
    ``pred_classes``, ``pred_masks`` ``(N, H, W)``, ``pred_texts`` (list of str) and
    ``text_scores`` ``(N,)``.

    **Distillation interface.** What a wrapper such as ``DLDSpotter`` may call, so that it
    needs no knowledge of the spotter's parts: :meth:`rescale`, :meth:`extract_features`,
    :meth:`detection_losses`, :meth:`detect`, :meth:`gt_recognition_rois`,
    :meth:`recognition_features`, :attr:`recognition_levels`, :attr:`feature_shapes`,
    :attr:`text_recognizer`
    (``encode``, ``logits``, ``teacher_forced``, ``beam_search``, ``sequence_logits``) and
    :meth:`check_distillable_from`. A subclass with other parts keeps these signatures.
    """

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(self.roi_heads, RecognitionBranch):
            raise ValueError(
                f"TextSpotter needs RoI heads that read text (TextROIHeads or a subclass), got "
                f"{type(self.roi_heads).__name__}: set MODEL.ROI_HEADS.NAME='TextROIHeads'"
            )

    # --- the distillation interface ---------------------------------------------------------

    def rescale(self, images: ImageList, scales: Sequence[float]
                ) -> Tuple[ImageList, List[Tuple[float, float]]]:
        """Each image resized by its scale and padded as the backbone needs; the exact
        ``(x, y)`` factors of each image (:func:`resize_image_list`)."""
        return resize_image_list(images, scales, self.backbone)

    def extract_features(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """The feature maps of a padded batch ``(B, 3, H, W)``, by level name."""
        return self.backbone(x)

    def detection_losses(self, images: ImageList, features: Dict[str, torch.Tensor],
                         gt_instances: List[Instances]) -> Dict[str, torch.Tensor]:
        """The spotter's own training losses (detection and recognition) on ``features``."""
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        _, detector_losses = self.roi_heads(images, features, proposals, gt_instances)
        return {**proposal_losses, **detector_losses}

    def detect(self, images: ImageList, features: Dict[str, torch.Tensor],
               given: Optional[List[Instances]] = None) -> List[Instances]:
        """Words found in ``images`` (in their coordinates, not post-processed); with
        ``given`` (``pred_boxes`` in those coordinates) masks and texts of those boxes."""
        if given is not None:
            return self.roi_heads.forward_with_given_boxes(features, given)
        proposals, _ = self.proposal_generator(images, features, None)
        return self.roi_heads(images, features, proposals, None)[0]

    def gt_recognition_rois(self, gt_instances: List[Instances]) -> List[Instances]:
        """Per image, the ground-truth words that train recognition, as RoIs
        (``proposal_boxes``, ``gt_masks``, ``gt_texts``)."""
        return self.roi_heads.gt_recognition_rois(gt_instances)

    def recognition_features(self, features: Dict[str, torch.Tensor],
                             rois: List[Instances]) -> torch.Tensor:
        """``F_roi``: the recognizer's input ``(N, C, Hr, Wr)`` for ``rois``."""
        return self.roi_heads.masked_roi_features(features, rois)

    @property
    def recognition_levels(self) -> List[str]:
        """The feature levels that :meth:`recognition_features` reads."""
        return list(self.roi_heads.rec_in_features)

    @property
    def feature_shapes(self) -> Dict[str, ShapeSpec]:
        """The shape of each level of :meth:`extract_features`."""
        return self.backbone.output_shape()

    @property
    def text_recognizer(self) -> nn.Module:
        """The recognizer: ``F_roi`` -> ``F_con`` (``encode``) -> character sequences."""
        return self.roi_heads.recognizer

    def check_distillable_from(self, teacher: TextSpotter, source: str = "the teacher") -> None:
        """Raise a ``ValueError`` naming ``source`` unless ``teacher``'s recognition branch has
        this spotter's shapes and levels (the distillation losses compare them)."""
        ours, theirs = self.roi_heads, teacher.roi_heads
        shapes = {k: v.shape for k, v in self.text_recognizer.state_dict().items()}
        if (shapes != {k: v.shape for k, v in teacher.text_recognizer.state_dict().items()}
                or ours.rec_pooler.output_size != theirs.rec_pooler.output_size):
            raise ValueError(
                f"{source}: the teacher's recognition branch (RoI size "
                f"{theirs.rec_pooler.output_size}) differs from the student's (RoI size "
                f"{ours.rec_pooler.output_size}); distillation needs the same MODEL.REC_HEAD "
                "and MODEL.TEXT in both configs"
            )
        if self.recognition_levels != teacher.recognition_levels:
            raise ValueError(
                f"{source}: the teacher reads recognition RoIs from "
                f"{teacher.recognition_levels}, the student from {self.recognition_levels}; "
                "L_roi compares features of one level: give both configs the same "
                "MODEL.REC_HEAD.IN_FEATURES (the paper: p2)")
