#!/usr/bin/env python
"""An end-to-end evaluation broken down by word height: per height bin of the legible
ground-truth words, how many there are, the detection recall and the end-to-end recall with no
lexicon, as the evaluation scored them::

    python tools/height_breakdown.py --gt ic15_test \\
        --pred output/teacher_real/inference/ic15_test/text_predictions.json \\
        [--bins 0,12,16,24,32,48,inf] [--json output/teacher_real/height_breakdown.json]

``--gt`` is a registered data set name (its images must exist, as for evaluation) or a ground
truth file in the project's format (``datasets/README.md``; images not needed). ``--pred`` is
the ``text_predictions.json`` that the evaluation wrote (or its folder). The records are scored
again with :func:`dld_spotter.evaluation.evaluate_records` (the RRC rules of
:mod:`dld_spotter.evaluation.protocol`: IoU > 0.5 one-to-one matching, don't-care regions,
the evaluator's case and special-character rule for a correct reading); each legible ground-truth
word then goes to the bin of its height (:func:`dld_spotter.data.stream.text_heights` of its
polygon, in original image pixels; a word in several parts: its tallest part), bins
``[low, high)``. The scoring settings (protocol, ``rec_score_thresh``, end-to-end word-spotting
rule) and the scored images are those of the ``text_results.json`` beside the predictions, and
the "all" row must reproduce its ``det_recall`` and ``e2e_recall``; without that file, the
official RRC defaults over every ground-truth image are used (said on stderr).

Recognition accuracy on ground-truth boxes has no column: the evaluation writes only its
total (``model_metrics.json``), no per-word readings to bin.

Prints a markdown table; ``--json FILE`` also writes the rows (written atomically). Exit
status 2, with a message naming the file, when a file is missing or unreadable, the predictions
are for images the ground truth does not have, or the ground truth is not the one the
evaluation scored.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
from collections.abc import Sequence

import numpy as np

from dld_spotter.data.datasets import load_ground_truth
from dld_spotter.data.stream import text_heights
from dld_spotter.evaluation import Protocol, evaluate_records, read_predictions
from dld_spotter.evaluation.compare import markdown_table
from dld_spotter.files import atomic_write

DEFAULT_BINS = "0,12,16,24,32,48,inf"
RESULTS_FILE = "text_results.json"  # what the evaluation writes beside its predictions
PREDICTIONS_FILE = "text_predictions.json"


@dataclasses.dataclass(frozen=True)
class Word:
    """One ground-truth word: its height (px) and, per task, whether it counts in recall
    (``*_care``) and whether it was found (detection: matched; end to end: matched and read
    correctly)."""

    height: float
    det_care: bool
    det_found: bool
    e2e_care: bool
    e2e_found: bool


def parse_bins(text: str) -> list[float]:
    """Bin edges from ``"0,12,...,inf"``: strictly increasing, from 0 to inf, so that every
    word falls in one bin (an argparse ``type``)."""
    try:
        edges = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas, "
                                         f"e.g. {DEFAULT_BINS}") from None
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise argparse.ArgumentTypeError(f"{text!r}: give at least 2 strictly increasing edges")
    if edges[0] != 0 or edges[-1] != math.inf:
        raise argparse.ArgumentTypeError(f"{text!r}: the edges must start at 0 and end at inf, "
                                         "so that every word falls in a bin")
    return edges


def read_settings(results_file: str) -> dict | None:
    """What ``results_file`` (an evaluation's ``text_results.json``) says of how it scored:
    ``protocol``, ``rec_score_thresh``, ``e2e_word_spotting``, ``image_ids``, ``dataset``
    (None from the command-line evaluation) and its ``det_recall`` / ``e2e_recall`` (percent);
    None when the file does not exist."""
    if not os.path.isfile(results_file):
        return None
    try:
        with open(results_file, encoding="utf-8") as f:
            results = json.load(f)
        return {
            "protocol": Protocol(**results["protocol"]),
            "rec_score_thresh": float(results["rec_score_thresh"]),
            "e2e_word_spotting": bool(results["e2e_word_spotting"]),
            "image_ids": [im["image_id"] for im in results["images"]],
            "dataset": results.get("dataset"),
            "det_recall": float(results["metrics"]["det_recall"]),
            "e2e_recall": float(results["metrics"]["e2e_recall"]),
        }
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(f"{results_file}: not an evaluation's {RESULTS_FILE} ({e!r}); delete "
                         "it or evaluate again") from None


def word_height(annotation: dict) -> float:
    """Height of an annotation's word in its image's pixels: its tallest polygon's."""
    return float(text_heights([np.asarray(p) for p in annotation["segmentation"]]).max())


def score_words(dataset_dicts: Sequence[dict], records: Sequence, image_ids: Sequence | None,
                protocol: Protocol, rec_score_thresh: float, e2e_word_spotting: bool
                ) -> tuple[list[Word], dict]:
    """Every ground-truth word of the scored images with its outcome (:class:`Word`), and
    :func:`evaluate_records`'s results (lexicon-free), scored with these settings."""
    results = evaluate_records(dataset_dicts, records, image_ids, protocol, rec_score_thresh,
                               e2e_word_spotting=e2e_word_spotting, details=True)
    gt_by_id = {d["image_id"]: d for d in dataset_dicts}
    words = []
    for image in results["images"]:
        annotations = gt_by_id[image["image_id"]]["annotations"]
        care, found = {}, {}
        for task, details in (("det", image["details"]["detection"]),
                              ("e2e", image["details"]["end_to_end"]["none"])):
            # Care words are the matched ones and the missed ones; ground-truth indices are
            # those of the image's annotations.
            matched = {m["gt"] for m in details["matches"]}
            care[task] = matched | {m["gt"] for m in details["misses"]}
            found[task] = {m["gt"] for m in details["matches"] if m["correct"] is not False}
        words += [Word(word_height(a), k in care["det"], k in found["det"],
                       k in care["e2e"], k in found["e2e"])
                  for k, a in enumerate(annotations) if k in care["det"] | care["e2e"]]
    return words, results


def _recall(found: int, care: int) -> float | None:
    return 100.0 * found / care if care else None


def breakdown(words: Sequence[Word], edges: Sequence[float]) -> list[dict]:
    """One row per bin ``[low, high)`` of ``edges``, then the ``"all"`` row: ``words``
    (detection care words), ``det_found``, ``det_recall``, ``e2e_words`` (end-to-end care
    words: fewer with the word-spotting rule), ``e2e_found``, ``e2e_recall`` (percent, None
    without words). ``high`` is None for the unbounded last bin."""
    def row(label: str, low: float, high: float) -> dict:
        inside = [w for w in words if low <= w.height < high]
        det = (sum(w.det_found for w in inside), sum(w.det_care for w in inside))
        e2e = (sum(w.e2e_found for w in inside), sum(w.e2e_care for w in inside))
        return {"bin": label, "low": low, "high": None if math.isinf(high) else high,
                "words": det[1], "det_found": det[0], "det_recall": _recall(*det),
                "e2e_words": e2e[1], "e2e_found": e2e[0], "e2e_recall": _recall(*e2e)}

    rows = [row(f"[{a:g}, {b:g})", a, b) for a, b in zip(edges, edges[1:])]
    return rows + [row("all", edges[0], edges[-1])]


def format_table(rows: Sequence[dict]) -> str:
    """Markdown table of :func:`breakdown`'s rows; an ``E2E words`` column only where the
    end-to-end task counts other words than detection (its word-spotting rule)."""
    both = any(r["e2e_words"] != r["words"] for r in rows)
    total = rows[-1]["words"]
    header = ["height (px)", "words", "share", "Det-R", *(["E2E words"] if both else []),
              "E2E-R"]

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:.1f}"

    body = [[r["bin"], str(r["words"]), pct(_recall(r["words"], total)), pct(r["det_recall"]),
             *([str(r["e2e_words"])] if both else []), pct(r["e2e_recall"])] for r in rows]
    return markdown_table(header, body)


def check_against(settings: dict, rows: Sequence[dict], gt: str, results_file: str) -> None:
    """Raise ``ValueError`` when the "all" row does not reproduce the evaluation's recalls:
    the ground truth is not the one it scored."""
    overall = rows[-1]
    for key in ("det_recall", "e2e_recall"):
        ours = overall[key] or 0.0
        if not math.isclose(ours, settings[key], abs_tol=1e-6):
            raise ValueError(
                f"--gt {gt} gives {key} {ours:.4f} where {results_file} reports "
                f"{settings[key]:.4f}: the ground truth is not the one that evaluation scored; "
                "give the data set it was run on")


def _check_known(results: dict, pred_file: str, gt: str) -> None:
    """Refuse predictions for images that the ground truth does not have."""
    unknown = results["num_unknown_predictions"]
    if unknown:
        raise ValueError(f"{pred_file}: {unknown} predictions are for images that --gt {gt} does "
                         "not have: they were made on another data set")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", required=True,
                        help="registered data set name, or ground-truth file (project JSON)")
    parser.add_argument("--pred", required=True, help=f"the evaluation's {PREDICTIONS_FILE} "
                        "(or its folder, <OUTPUT_DIR>/inference/<dataset>)")
    parser.add_argument("--bins", type=parse_bins, default=parse_bins(DEFAULT_BINS),
                        help=f"height bin edges in pixels (default {DEFAULT_BINS})")
    parser.add_argument("--json", metavar="FILE", help="also write the rows here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    pred_file = args.pred
    if os.path.isdir(pred_file):
        pred_file = os.path.join(pred_file, PREDICTIONS_FILE)
    results_file = os.path.join(os.path.dirname(os.path.abspath(pred_file)), RESULTS_FILE)
    try:
        records = read_predictions(pred_file)
        settings = read_settings(results_file)
        if settings is None:
            print(f"note: no {results_file}: scored with the official RRC defaults over every "
                  f"image of {args.gt}", file=sys.stderr)
            settings = {"protocol": Protocol(), "rec_score_thresh": 0.0,
                        "e2e_word_spotting": False, "image_ids": None, "dataset": None}
        elif settings["dataset"] not in (None, args.gt) and not os.path.isfile(args.gt):
            raise ValueError(f"{results_file} is the evaluation of {settings['dataset']}, "
                             f"not of --gt {args.gt}")
        dataset_dicts = load_ground_truth(args.gt, "--gt")
        known = {d["image_id"] for d in dataset_dicts}
        missing = [i for i in settings["image_ids"] or () if i not in known]
        if missing:
            raise ValueError(f"{results_file} scored {len(missing)} images that --gt {args.gt} "
                             f"does not have (e.g. {missing[0]!r}): give the data set it was "
                             "run on")
        words, results = score_words(dataset_dicts, records, settings["image_ids"],
                                     settings["protocol"], settings["rec_score_thresh"],
                                     settings["e2e_word_spotting"])
        _check_known(results, pred_file, args.gt)
        rows = breakdown(words, args.bins)
        if "det_recall" in settings:
            check_against(settings, rows, args.gt, results_file)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    protocol = settings["protocol"]
    print(f"Recall by word height (px) of {pred_file} on {args.gt}: {len(results['images'])} "
          f"images, IoU > {protocol.iou_threshold:g}, {protocol.matching} matching, "
          f"rec_score_thresh {settings['rec_score_thresh']:g}, end to end without lexicon\n")
    print(format_table(rows))
    if args.json:
        content = {"gt": args.gt, "predictions": pred_file, "bins": args.bins[:-1] + [None],
                   "protocol": dataclasses.asdict(protocol),
                   "rec_score_thresh": settings["rec_score_thresh"],
                   "e2e_word_spotting": settings["e2e_word_spotting"],
                   "num_images": len(results["images"]), "rows": rows}
        with atomic_write(args.json) as f:
            json.dump(content, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
