"""Text-spotting evaluation: ICDAR-style protocol, prediction records, detectron2 evaluator."""
from .predictions import instances_to_records, mask_to_polygon
from .protocol import (
    ImageResult,
    Match,
    Protocol,
    accumulate,
    evaluate_image,
    polygon_intersection_over_area,
    polygon_iou,
    to_geometry,
)
from .text_evaluator import TextSpottingEvaluator, evaluate_records

__all__ = [
    "ImageResult",
    "Match",
    "Protocol",
    "TextSpottingEvaluator",
    "accumulate",
    "evaluate_image",
    "evaluate_records",
    "instances_to_records",
    "mask_to_polygon",
    "polygon_intersection_over_area",
    "polygon_iou",
    "to_geometry",
]
