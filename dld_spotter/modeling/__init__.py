"""Importing this package registers the spotter's meta-architectures, heads and backbones."""
from .backbone import LightNet, build_light_fpn_backbone
from .dld import DLDSpotter
from .drs import DynamicResolutionSelector
from .pretrainer import RecognitionPretrainer
from .recognizer import REC_HEAD_REGISTRY, AttentionRecognizer, build_recognizer
from .roi_heads import RecognitionBranch, TextRecognitionHeads, TextROIHeads
from .seg_head import TextSegmentationHead
from .seg_spotter import SegTextSpotter
from .text_spotter import TextSpotter

__all__ = [
    "AttentionRecognizer",
    "DLDSpotter",
    "DynamicResolutionSelector",
    "LightNet",
    "REC_HEAD_REGISTRY",
    "RecognitionBranch",
    "RecognitionPretrainer",
    "SegTextSpotter",
    "TextROIHeads",
    "TextRecognitionHeads",
    "TextSegmentationHead",
    "TextSpotter",
    "build_light_fpn_backbone",
    "build_recognizer",
]
