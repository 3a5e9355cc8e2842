"""``TextSpotter``: the Mask R-CNN end-to-end text spotter of §3.2 (teacher and baseline)."""
from __future__ import annotations

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, GeneralizedRCNN

from .roi_heads import TextROIHeads


@META_ARCH_REGISTRY.register()
class TextSpotter(GeneralizedRCNN):
    """A ``GeneralizedRCNN`` whose RoI heads read text.

    Training returns detection losses plus ``loss_rec``; inference returns, per image,
    ``Instances`` in the input's original size with ``pred_boxes``, ``scores``,
    ``pred_classes``, ``pred_masks`` ``(N, H, W)``, ``pred_texts`` (list of str) and
    ``text_scores`` ``(N,)``.
    """

    @configurable
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(self.roi_heads, TextROIHeads):
            raise ValueError(
                f"TextSpotter needs TextROIHeads (or a subclass), got "
                f"{type(self.roi_heads).__name__}: set MODEL.ROI_HEADS.NAME='TextROIHeads'"
            )
