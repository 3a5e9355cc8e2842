"""``SegTextSpotter``: a segmentation-based end-to-end text spotter (the family of Text
Perceptron), the DB-style ``TextSegmentationHead`` finding the words and the Mask R-CNN
spotter's recognition branch reading them."""
from __future__ import annotations

from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY

from .roi_heads import TextRecognitionHeads
from .seg_head import TextSegmentationHead
from .text_spotter import TextSpotter


@META_ARCH_REGISTRY.register()
class SegTextSpotter(TextSpotter):
    """A :class:`TextSpotter` whose ``proposal_generator`` is a :class:`TextSegmentationHead`
    (the detector: words as polygons, boxes and masks) and whose ``roi_heads`` are
    :class:`TextRecognitionHeads` (RoI-Masking and the recognizer, the parameter names of
    ``TextROIHeads``' branch: a ``TextSpotter`` checkpoint initialises its backbone and
    recognizer).

    Training returns ``loss_seg_prob``, ``loss_seg_thresh``, ``loss_seg_binary`` and the
    recognizer's losses on the ground-truth words; inference returns what a ``TextSpotter``
    returns. The distillation interface is :class:`TextSpotter`'s; its ``detect`` with
    ``given`` boxes reads each in its whole box (no detector masks for given boxes).
    """

    @configurable
    def __init__(self, **kwargs):
        for part, cls in (("proposal_generator", TextSegmentationHead),
                          ("roi_heads", TextRecognitionHeads)):
            if not isinstance(kwargs.get(part), cls):
                raise ValueError(f"SegTextSpotter needs a {cls.__name__} as its {part}, got "
                                 f"{type(kwargs.get(part)).__name__}")
        super().__init__(**kwargs)

    @classmethod
    def from_config(cls, cfg):
        """``GeneralizedRCNN``'s parts, the detector and the heads being this family's whatever
        ``MODEL.PROPOSAL_GENERATOR.NAME`` and ``MODEL.ROI_HEADS.NAME`` say (they name the Mask
        R-CNN spotter's parts): ``META_ARCHITECTURE`` (or ``MODEL.DLD.BASE_ARCHITECTURE``)
        alone makes a spotter of this family from any spotter config; ``MODEL.SEG_HEAD`` sets
        its detector."""
        cfg = cfg.clone()
        cfg.defrost()
        cfg.MODEL.PROPOSAL_GENERATOR.NAME = TextSegmentationHead.__name__
        cfg.MODEL.ROI_HEADS.NAME = TextRecognitionHeads.__name__
        return super().from_config(cfg)
