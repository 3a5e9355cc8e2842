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

The lexicon modes (``TEST.TEXT.LEXICON_*``: their own recognition-score threshold, the
lexicon-correction cut-off, and whether a reading no lexicon word is that close is dropped)
are tuned on a set without lexicons by giving it lexicons made as ICDAR 2015 made its test
set's (:func:`dld_spotter.data.sample_lexicons`), e.g. on the held-out IC15 training
photographs, their distractors drawn from the other training photographs::

    .venv/bin/python tools/tune_thresholds.py --gt ic15_train_heldout --pred P.json \
        --score 0.3 --containment 0.6 --confirm 0.55 --rec-score 0.8 \
        --sample-lexicons ic15_train_fit --generic-lexicon $R/icdar2015/lexicons/generic.txt \
        --lexicon-rec-score 0.5 0.8 --lexicon-max-distance 1.0 0.5 0.34 --drop-unmatched \
        --sort lexicons
"""
from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping, Sequence

import torch
from detectron2.structures import Boxes

from dld_spotter.data import load_lexicon, sample_lexicons
from dld_spotter.data.datasets import load_ground_truth
from dld_spotter.evaluation import (
    Lexicon,
    LexiconRules,
    evaluate_records,
    metrics_in_percent,
    read_predictions,
)
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
          confirms: Sequence[float] = (0.0,), lexicons: Mapping[str, Lexicon] | None = None,
          lexicon_rules: Sequence[LexiconRules] = (LexiconRules(),)) -> list[dict]:
    """One row per combination of thresholds (and of lexicon rules): the settings and the
    metrics in percent. ``lexicons``: the weak / generic ones; the strong ones are the
    dataset dicts' ``lexicon`` lists; the ``ic15`` preset's modes that have one are scored."""
    rows = []
    preset = "ic15" if lexicons is not None else "plain"
    for s, c, k in itertools.product(scores, containments, confirms):
        subset = apply_thresholds(records, s, c, k)
        for r, rules in itertools.product(rec_scores, lexicon_rules):
            metrics = metrics_in_percent(evaluate_records(
                dataset_dicts, subset, None, None, r, preset=preset, lexicons=lexicons,
                lexicon_rules=rules))
            rows.append({"score": s, "containment": c, "confirm": k, "rec_score": r,
                         "lexicon_rec_score": rules.rec_score_thresh,
                         "max_distance": rules.max_distance, **metrics})
    return rows


LEXICON_COLUMNS = {"strong": "E2E-S", "weak": "E2E-W", "generic": "E2E-G"}


def sort_key(objective: str):
    """Rows sorted best first by ``objective`` (e2e, strong, weak, generic, or lexicons: the
    mean of the lexicon modes' end-to-end H-means), then by detection H-mean."""
    def key(row):
        if objective == "lexicons":
            values = [row[f"e2e_{m}_hmean"] for m in LEXICON_COLUMNS if f"e2e_{m}_hmean" in row]
            value = sum(values) / len(values)
        else:
            value = row["e2e_hmean" if objective == "e2e" else f"e2e_{objective}_hmean"]
        return (-value, -row["det_hmean"])
    return key


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", required=True,
                        help="tuning ground truth: a project JSON or a registered data set")
    parser.add_argument("--pred", required=True, help="predictions on it (a JSON list)")
    parser.add_argument("--score", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--containment", type=float, nargs="+", default=[1.0, 0.9, 0.8, 0.6])
    parser.add_argument("--confirm", type=float, nargs="+", default=[0.0],
                        help="MODEL.REC_HEAD.SCORE_THRESH_TEST values")
    parser.add_argument("--rec-score", type=float, nargs="+", default=[0.0, 0.5, 0.7, 0.8, 0.9])
    parser.add_argument("--sample-lexicons", metavar="POOL",
                        help="give the tuning images strong and weak lexicons made as IC15's, "
                        "distractors from POOL (a project JSON or a registered data set)")
    parser.add_argument("--generic-lexicon", metavar="FILE", help="the generic lexicon")
    parser.add_argument("--lexicon-rec-score", type=float, nargs="+", default=[None],
                        help="TEST.TEXT.LEXICON_REC_SCORE_THRESH values (default: --rec-score)")
    parser.add_argument("--lexicon-max-distance", type=float, nargs="+", default=[1.0],
                        help="TEST.TEXT.LEXICON_MAX_DISTANCE values")
    parser.add_argument("--drop-unmatched", action="store_true",
                        help="TEST.TEXT.LEXICON_DROP_UNMATCHED: True")
    parser.add_argument("--sort", choices=["e2e", *LEXICON_COLUMNS, "lexicons"], default="e2e",
                        help="the end-to-end H-mean the rows are sorted by (lexicons: the mean "
                        "of the lexicon modes')")
    parser.add_argument("--top", type=int, default=20, help="rows printed")
    args = parser.parse_args(argv)
    try:
        gt = load_ground_truth(args.gt, "--gt")
        pool = load_ground_truth(args.sample_lexicons, "--sample-lexicons") \
            if args.sample_lexicons else None
        records = read_predictions(args.pred)
    except (OSError, ValueError) as e:
        parser.error(str(e))
    lowest = min((r["score"] for r in records), default=0.0)
    if lowest > min(args.score):
        print(f"note: no prediction scores below {lowest:.2f}; lower grid points cannot be judged")
    lexicons = None
    if args.sample_lexicons or args.generic_lexicon:
        lexicons = {}
        if args.sample_lexicons:
            strong, weak = sample_lexicons(gt, pool)
            gt = [{**d, "lexicon": words} for d, words in zip(gt, strong)]
            lexicons["weak"] = Lexicon(weak)
        if args.generic_lexicon:
            lexicons["generic"] = Lexicon(load_lexicon(args.generic_lexicon))
    elif args.sort != "e2e":
        parser.error(f"--sort {args.sort} needs --sample-lexicons or --generic-lexicon")
    rules = [LexiconRules(m, args.drop_unmatched, t)
             for t, m in itertools.product(args.lexicon_rec_score, args.lexicon_max_distance)]
    rows = sweep(gt, records, args.score, args.containment, args.rec_score, args.confirm,
                 lexicons, rules)
    rows.sort(key=sort_key(args.sort))
    modes = [m for m in LEXICON_COLUMNS if rows and f"e2e_{m}_hmean" in rows[0]]
    extra = "".join(f" {LEXICON_COLUMNS[m]} |" for m in modes)
    print("| box score | containment | confirm | rec. score | lexicon rec. score | "
          f"max. distance | Det-P | Det-R | Det-H | E2E | WS |{extra}")
    print("|---:" * (11 + len(modes)) + "|")
    for r in rows[: args.top]:
        lexicon_rec = "=" if r["lexicon_rec_score"] is None else f"{r['lexicon_rec_score']:.2f}"
        values = "".join(f" {r[f'e2e_{m}_hmean']:.1f} |" for m in modes)
        print(f"| {r['score']:.2f} | {r['containment']:.2f} | {r['confirm']:.2f} | "
              f"{r['rec_score']:.2f} | {lexicon_rec} | {r['max_distance']:.2f} | "
              f"{r['det_precision']:.1f} | {r['det_recall']:.1f} | {r['det_hmean']:.1f} | "
              f"{r['e2e_hmean']:.1f} | {r['ws_hmean']:.1f} |{values}")


if __name__ == "__main__":
    main()
