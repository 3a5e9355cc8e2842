#!/usr/bin/env python
"""Choose a spotter's inference thresholds on a tuning set: detection and end-to-end H-mean of
one predictions file over a grid of box-score (``MODEL.ROI_HEADS.SCORE_THRESH_TEST``),
containment (``MODEL.ROI_HEADS.CONTAINMENT_THRESH_TEST``), confirmation
(``MODEL.REC_HEAD.SCORE_THRESH_TEST``: detections whose reading scores lower are dropped) and
end-to-end recognition-score (``TEST.TEXT.REC_SCORE_THRESH``) thresholds, without re-running
the model::

    python -m dld_spotter.data.synth --out datasets_tune/synth --num-train 0 --num-val 100 --seed 1
    DLD_DATASETS=datasets_tune projects/DLD/train_net.py --config-file CFG --eval-only \\
        MODEL.WEIGHTS W OUTPUT_DIR output/tune MODEL.ROI_HEADS.SCORE_THRESH_TEST 0.3 \\
        MODEL.ROI_HEADS.CONTAINMENT_THRESH_TEST 1.0 MODEL.REC_HEAD.SCORE_THRESH_TEST 0.0 \\
        TEST.TEXT.REC_SCORE_THRESH 0.0
    .venv/bin/python tools/tune_thresholds.py --gt datasets_tune/synth/val.json \\
        --pred output/tune/inference/synth_val/text_predictions.json

The predictions must be made below the grid's lowest box score with containment and
confirmation off. Tune on images the reported set does not contain (above: another seed of
the generator). Prints one markdown table, best end-to-end H-mean first (then detection's).
"""
from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

import torch
from detectron2.structures import Boxes

from dld_spotter.data import load_text_json
from dld_spotter.evaluation import evaluate_records, metrics_in_percent, read_predictions
from dld_spotter.modeling.roi_heads import contained_detections


def apply_thresholds(records: Sequence[dict], score_thresh: float,
                     containment_thresh: float, confirm_thresh: float = 0.0) -> list[dict]:
    """The records the model would output at these thresholds, in their original order:
    box score >= ``score_thresh``, then per image without :func:`contained_detections`, then
    those whose ``text_score`` >= ``confirm_thresh`` (``RecognitionBranch.confirmed``)."""
    kept = [r for r in records if r["score"] >= score_thresh]
    by_image: dict = {}
    for r in kept:
        by_image.setdefault(r["image_id"], []).append(r)
    dropped = set()
    for rs in by_image.values():
        boxes = Boxes(torch.tensor([r["box"] for r in rs], dtype=torch.float32))
        scores = torch.tensor([r["score"] for r in rs])
        flags = contained_detections(boxes, scores, containment_thresh)
        dropped.update(id(r) for r, f in zip(rs, flags.tolist()) if f)
    return [r for r in kept if id(r) not in dropped and r["text_score"] >= confirm_thresh]


def sweep(dataset_dicts: Sequence[dict], records: Sequence[dict], scores: Sequence[float],
          containments: Sequence[float], rec_scores: Sequence[float],
          confirms: Sequence[float] = (0.0,)) -> list[dict]:
    """One row per combination of thresholds: the thresholds and the metrics in percent."""
    rows = []
    for s, c, k in itertools.product(scores, containments, confirms):
        subset = apply_thresholds(records, s, c, k)
        for r in rec_scores:
            metrics = metrics_in_percent(evaluate_records(dataset_dicts, subset, None, None, r))
            rows.append({"score": s, "containment": c, "confirm": k, "rec_score": r, **metrics})
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", required=True, help="tuning ground truth (project JSON)")
    parser.add_argument("--pred", required=True, help="predictions on it (a JSON list)")
    parser.add_argument("--score", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--containment", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.6])
    parser.add_argument("--confirm", type=float, nargs="+", default=[0.0],
                        help="MODEL.REC_HEAD.SCORE_THRESH_TEST values")
    parser.add_argument("--rec-score", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.8, 0.9])
    parser.add_argument("--top", type=int, default=20, help="rows printed")
    args = parser.parse_args(argv)
    gt = load_text_json(args.gt, "", check_images=False)
    records = read_predictions(args.pred)
    lowest = min((r["score"] for r in records), default=0.0)
    if lowest > min(args.score):
        print(f"note: no prediction scores below {lowest:.2f}; lower grid points cannot be judged")
    rows = sweep(gt, records, args.score, args.containment, args.rec_score, args.confirm)
    rows.sort(key=lambda r: (-r["e2e_hmean"], -r["det_hmean"]))
    print("| box score | containment | confirm | rec. score | Det-P | Det-R | Det-H | E2E | WS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows[: args.top]:
        print(f"| {r['score']:.2f} | {r['containment']:.2f} | {r['confirm']:.2f} | "
              f"{r['rec_score']:.2f} | "
              f"{r['det_precision']:.1f} | {r['det_recall']:.1f} | {r['det_hmean']:.1f} | "
              f"{r['e2e_hmean']:.1f} | {r['ws_hmean']:.1f} |")


if __name__ == "__main__":
    main()
