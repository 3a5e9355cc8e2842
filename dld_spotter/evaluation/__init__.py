"""Text-spotting evaluation: ICDAR RRC-style protocols (detection, end to end and word spotting
with lexicons), prediction records, the detectron2 evaluator, cost and recognition metrics."""
from .cost import count_flops, evaluate_cost, measure_speed, scale_histogram
from .lexicon import Lexicon, LexiconRules, correct_text, edit_distance, matching_word
from .model_metrics import model_metrics, report_table
from .predictions import instances_to_records, mask_to_polygon, read_predictions
from .presets import LEXICON_MODES, PRESETS, ProtocolPreset, get_preset, preset_for_dataset
from .protocol import (
    RRC_SPECIAL_CHARACTERS,
    ImageResult,
    Match,
    Protocol,
    accumulate,
    evaluate_image,
    to_geometry,
)
from .recognition import gt_box_readings, recognition_accuracy
from .text_evaluator import (
    TextSpottingEvaluator,
    evaluate_records,
    format_results_table,
    metrics_in_percent,
    validate_records,
)

__all__ = [
    "LEXICON_MODES",
    "PRESETS",
    "RRC_SPECIAL_CHARACTERS",
    "ImageResult",
    "Lexicon",
    "LexiconRules",
    "Match",
    "Protocol",
    "ProtocolPreset",
    "TextSpottingEvaluator",
    "accumulate",
    "correct_text",
    "count_flops",
    "edit_distance",
    "evaluate_cost",
    "evaluate_image",
    "evaluate_records",
    "format_results_table",
    "get_preset",
    "gt_box_readings",
    "instances_to_records",
    "mask_to_polygon",
    "matching_word",
    "measure_speed",
    "metrics_in_percent",
    "model_metrics",
    "preset_for_dataset",
    "read_predictions",
    "recognition_accuracy",
    "report_table",
    "scale_histogram",
    "to_geometry",
    "validate_records",
]
