"""Importing this package registers the spotter's meta-architectures, heads and backbones."""
from .backbone import LightNet, build_light_fpn_backbone
from .dld import DLDSpotter
from .drs import DynamicResolutionSelector
from .pretrainer import RecognitionPretrainer
from .recognizer import REC_HEAD_REGISTRY, AttentionRecognizer, build_recognizer
from .roi_heads import TextROIHeads
from .text_spotter import TextSpotter

__all__ = [
    "AttentionRecognizer",
    "DLDSpotter",
    "DynamicResolutionSelector",
    "LightNet",
    "REC_HEAD_REGISTRY",
    "RecognitionPretrainer",
    "TextROIHeads",
    "TextSpotter",
    "build_light_fpn_backbone",
    "build_recognizer",
]
