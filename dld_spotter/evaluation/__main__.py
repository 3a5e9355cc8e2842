"""Score a predictions file against a ground-truth file, with any system's predictions::

    python -m dld_spotter.evaluation --gt GT.json --pred PRED.json --protocol ic15 \\
        [--lexicon strong --lexicon generic] [--weak-lexicon FILE] [--generic-lexicon FILE] \\
        [--full-lexicon FILE] [--iou 0.5] [--matching official] [--output-dir DIR]

GT.json is in the project's COCO-style format (``datasets/README.md``), read as training
reads it (:func:`~dld_spotter.data.load_text_json`; image files are not needed); an entry of
``images`` may carry ``"lexicon": [words]`` (its strong lexicon). PRED.json is a JSON list of
prediction records (``dld_spotter/evaluation/README.md``; the demo's JSON output is one).
Prints one JSON object: the metrics (percent) and the settings they were computed with
(``protocol.matching`` says which matching order the numbers used).

Exit status: 0 when scored; 2 on a bad argument (``--iou`` outside (0, 1), ...) or an
unreadable or invalid file (a score outside [0, 1] included); 1 when nothing that was asked
for can be scored (the ground truth has no images, no prediction is for an image of the
ground truth, no record is usable, or none of the lexicon modes asked for with ``--lexicon``
is available), with the reason on stderr.
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence

from ..data import load_lexicon, load_text_json
from .lexicon import LexiconRules
from .predictions import read_predictions
from .presets import LEXICON_MODES, PRESETS, get_preset
from .protocol import MATCHING_ORDERS, Protocol
from .text_evaluator import (
    describe_settings,
    evaluate_records,
    metrics_in_percent,
    split_details,
)


def _number_in(low: float, high: float, *, low_open: bool, high_open: bool, what: str
               ) -> Callable[[str], float]:
    """An argparse ``type``: a float in the interval from ``low`` to ``high``."""
    interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        inside = (math.isfinite(value) and (value > low if low_open else value >= low)
                  and (value < high if high_open else value <= high))
        if not inside:
            raise argparse.ArgumentTypeError(f"{text} is outside {interval}: {what}")
        return value

    return parse


IOU = _number_in(0.0, 1.0, low_open=True, high_open=True,
                 what="an IoU threshold is a fraction, e.g. 0.5 (RRC) or 0.1 (MANGO)")
SCORE = _number_in(0.0, 1.0, low_open=False, high_open=False,
                   what="text_score is a confidence in [0, 1]")
DISTANCE = _number_in(0.0, 1.0, low_open=False, high_open=False,
                      what="a normalised edit distance lies in [0, 1] (1: always correct)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dld_spotter.evaluation",
        description="Score text-spotting predictions (ICDAR RRC-style rules).",
    )
    parser.add_argument("--gt", required=True, help="ground truth, project COCO-style JSON")
    parser.add_argument("--pred", required=True, help="predictions, a JSON list of records")
    parser.add_argument("--protocol", choices=sorted(PRESETS), default="plain",
                        help="protocol preset: which lexicon modes are reported")
    parser.add_argument("--lexicon", action="append", choices=LEXICON_MODES,
                        help="report only this lexicon mode (repeatable; default: the preset's)")
    for mode in ("weak", "generic", "full"):
        parser.add_argument(f"--{mode}-lexicon", metavar="FILE",
                            help=f"the {mode} lexicon, one word per line")
    parser.add_argument("--iou", type=IOU, default=0.5,
                        help="matching IoU, strictly above (0.1: the MANGO comparison)")
    parser.add_argument("--matching", choices=MATCHING_ORDERS, default="official",
                        help="official: the RRC script's order (ground truths in order, each "
                        "takes the first unused prediction in file order, then the text is "
                        "judged); best: correct readings first, then highest IoU")
    parser.add_argument("--rec-score-thresh", type=SCORE, default=0.0,
                        help="drop records with a lower text_score before end to end")
    parser.add_argument("--lexicon-max-distance", type=DISTANCE, default=1.0,
                        help="lexicon correction cut-off on the normalised edit distance")
    parser.add_argument("--lexicon-drop-unmatched", action="store_true",
                        help="leave out of a lexicon mode the readings with no lexicon word "
                        "within --lexicon-max-distance (default: scored as read)")
    parser.add_argument("--lexicon-rec-score-thresh", type=SCORE,
                        help="--rec-score-thresh of the lexicon modes (default: the same)")
    parser.add_argument("--e2e-word-spotting", action="store_true",
                        help="word-spotting rules in end to end too (AdelaiDet's Total-Text)")
    parser.add_argument("--output-dir", help="write text_results.json and "
                        "text_per_image.json (matches, misses, false positives) here")
    return parser


def nothing_to_score(dataset_dicts: list, records: list, results: dict,
                     asked_modes: Sequence[str] | None) -> str | None:
    """Why nothing that was asked for can be scored, or None."""
    if not dataset_dicts:
        return "the ground truth has no images"
    num_records = len(records)
    num_invalid = results["num_invalid_predictions"]
    if num_records and num_invalid == num_records:
        return (f"none of the {num_records} prediction records is usable (see the warning "
                "above)")
    if num_records and results["num_unknown_predictions"] == num_records - num_invalid:
        return (f"none of the {num_records - num_invalid} predictions is for an image of the "
                "ground truth (predictions are matched to images by image_id, else by the base "
                "name of file_name)")
    skipped = results["skipped_lexicon_modes"]
    if asked_modes and all(m in skipped for m in asked_modes):
        return "; ".join(f"lexicon mode {m!r} cannot be scored: {skipped[m]}"
                         for m in asked_modes)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        dataset_dicts = load_text_json(args.gt, "", check_images=False)
        records = read_predictions(args.pred)
        files = {m: getattr(args, f"{m}_lexicon") for m in ("weak", "generic", "full")}
        files = {m: path for m, path in files.items() if path}
        lexicons = {m: load_lexicon(path) for m, path in files.items()}
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    preset = get_preset(args.protocol)
    if args.lexicon:
        preset = preset.with_modes(tuple(dict.fromkeys(args.lexicon)))
    protocol = Protocol(iou_threshold=args.iou, matching=args.matching)
    rules = LexiconRules(args.lexicon_max_distance, args.lexicon_drop_unmatched,
                         args.lexicon_rec_score_thresh)
    results = evaluate_records(
        dataset_dicts, records, None, protocol, args.rec_score_thresh,
        preset=preset, lexicons=lexicons, lexicon_rules=rules,
        e2e_word_spotting=args.e2e_word_spotting, details=bool(args.output_dir),
    )
    reason = nothing_to_score(dataset_dicts, records, results,
                              tuple(dict.fromkeys(args.lexicon)) if args.lexicon else None)
    if reason:
        print(f"error: nothing to score: {reason}", file=sys.stderr)
        return 1
    settings = describe_settings(preset, protocol, args.rec_score_thresh,
                                 rules, args.e2e_word_spotting, files)
    summary = {
        "metrics": metrics_in_percent(results),
        **settings,
        "num_images": len(results["images"]),
        "num_unknown_predictions": results["num_unknown_predictions"],
        "num_invalid_predictions": results["num_invalid_predictions"],
        "skipped_lexicon_modes": results["skipped_lexicon_modes"],
    }
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
        per_image = split_details(results)
        with open(os.path.join(args.output_dir, "text_per_image.json"), "w") as f:
            json.dump(per_image, f)
        with open(os.path.join(args.output_dir, "text_results.json"), "w") as f:
            json.dump({**summary, **results}, f, indent=1)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
