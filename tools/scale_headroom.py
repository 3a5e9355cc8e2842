"""How much a per-image choice of input scale could buy: one model evaluated at several fixed
scales, recombined image by image.

Reads each evaluation folder's ``text_results.json`` (per-image end-to-end counts, no lexicon) and
``model_metrics.json`` (mean GFLOPs), and prints the end-to-end H-mean and mean GFLOPs (% of
the largest scale's) of
  * every fixed scale,
  * a *size rule*: per image the smallest scale at which its smallest legible word is at least
    ``H`` input pixels high (what a selector that sees only text size could do),
  * an *oracle*: per image the scale that maximises ``TP - (FP + FN) / 2 - lam * GFLOPs %/10``
    (an upper bound that also profits from per-image noise),
  * with ``--choices``, a DLD student's choices: per image the scale its selector picked (the
    ``scale`` of its evaluation's ``text_per_image.json``), i.e. this model steered by that
    selector without the student's own weights.

    python tools/scale_headroom.py --annotations datasets/synth/val.json --base-size 480 \\
        1.0=/tmp/s480/inference/synth_val 0.8=/tmp/s384/inference/synth_val ...
"""
from __future__ import annotations

import argparse
import json
import math
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

from dld_spotter.data.stream import smallest_text_height
from dld_spotter.evaluation.compare import markdown_table
from dld_spotter.evaluation.protocol import ImageResult, accumulate
from dld_spotter.modeling.drs import smallest_legible_scale


def per_image_results(folder: str) -> dict[int, ImageResult]:
    """``{image_id: counts}`` of the end-to-end task (no lexicon) of one evaluation, as its
    ``text_results.json`` records them."""
    path = os.path.join(folder, "text_results.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: evaluate with train_net.py "
                                "--eval-only and point at <OUTPUT_DIR>/inference/<dataset>")
    with open(path) as f:
        images = json.load(f)["images"]
    return {im["image_id"]: ImageResult(**im["end_to_end"]["none"]) for im in images}


def smallest_word_heights(annotations: str, base_size: int) -> dict[int, float]:
    """``{image_id: height}`` of each image's smallest non-ignored word at the test
    resolution ``base_size`` (shorter side)."""
    with open(annotations) as f:
        coco = json.load(f)
    factor = {im["id"]: base_size / min(im["height"], im["width"]) for im in coco["images"]}
    words = defaultdict(list)
    for ann in coco["annotations"]:
        words[ann["image_id"]].append(ann)
    return {i: smallest_text_height(anns) * factor[i] for i, anns in words.items()}


def selector_choices(folder: str) -> dict[int, float]:
    """``{image_id: scale}`` that a DLD student's selector picked in the evaluation ``folder``."""
    path = os.path.join(folder, "text_per_image.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: evaluate the DLD student with "
                                "train_net.py --eval-only and point at "
                                "<OUTPUT_DIR>/inference/<dataset>")
    with open(path) as f:
        images = json.load(f)
    if any("scale" not in im for im in images):
        raise ValueError(f"{path} has no per-image scale: it is not a DLD student's evaluation")
    return {im["image_id"]: im["scale"] for im in images}


def combine(runs: Mapping[float, dict[int, ImageResult]], cost: Mapping[float, float],
            choice: Mapping[int, float]) -> tuple[float, float]:
    """End-to-end H-mean (%) and mean cost of running image ``i`` at scale ``choice[i]``."""
    return (100 * accumulate([runs[s][i] for i, s in choice.items()])["hmean"],
            sum(cost[s] for s in choice.values()) / len(choice))


def size_rule(heights: Mapping[int, float], scales: Sequence[float], images: Sequence[int],
              min_height: float) -> dict[int, float]:
    """Per image the smallest scale keeping its smallest word >= ``min_height`` px, else the
    largest scale (images without words: the smallest)."""
    return {i: smallest_legible_scale(heights.get(i, math.inf), scales, min_height)
            for i in images}


def oracle(runs: Mapping[float, dict[int, ImageResult]], cost: Mapping[float, float],
           images: Sequence[int], lam: float) -> dict[int, float]:
    """Per image the scale maximising ``TP - (FP + FN) / 2 - lam * cost / 10``."""
    def gain(i: int, s: float) -> float:
        r = runs[s][i]
        errors = (r.num_pred - r.num_tp) + (r.num_gt_care - r.num_tp)
        return r.num_tp - errors / 2 - lam * cost[s] / 10
    return {i: max(sorted(runs), key=lambda s: gain(i, s)) for i in images}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="SCALE=FOLDER")
    parser.add_argument("--annotations", required=True, help="the data set's COCO-style json")
    parser.add_argument("--base-size", type=int, required=True,
                        help="the shorter side of the scale-1.0 evaluation")
    parser.add_argument("--heights", type=float, nargs="+", default=[8, 10, 12, 14, 16, 20])
    parser.add_argument("--lams", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0])
    parser.add_argument("--choices", metavar="FOLDER",
                        help="a DLD student's evaluation: add the row of its selector's choices")
    args = parser.parse_args(argv)
    runs, gflops = {}, {}
    for item in args.runs:
        scale, sep, folder = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: give SCALE=FOLDER")
        runs[float(scale)] = per_image_results(folder)
        with open(os.path.join(folder, "model_metrics.json")) as f:
            gflops[float(scale)] = json.load(f)["cost"]["gflops"]
    images = sorted(set.intersection(*(set(r) for r in runs.values())))
    if any(len(r) != len(images) for r in runs.values()):
        raise ValueError("the evaluations cover different images: evaluate one data set")
    cost = {s: 100 * g / max(gflops.values()) for s, g in gflops.items()}
    heights = smallest_word_heights(args.annotations, args.base_size)
    scales = sorted(runs)
    rows = [(f"fixed {s}", {i: s for i in images}) for s in sorted(runs, reverse=True)]
    rows += [(f"size rule, smallest word >= {h:g} px", size_rule(heights, scales, images, h))
             for h in args.heights]
    rows += [(f"oracle, lam {lam:g}", oracle(runs, cost, images, lam)) for lam in args.lams]
    if args.choices:
        choice = selector_choices(args.choices)
        missing = sorted({s for s in choice.values()} - set(runs))
        if missing or set(choice) != set(images):
            raise ValueError(f"{args.choices}: its choices need evaluations at scales {missing} "
                             "of the same images; give them as SCALE=FOLDER")
        rows.append(("a DLD student's selector", choice))
    print(f"{len(images)} images; GFLOPs % of scale {max(gflops, key=gflops.get)} "
          f"({max(gflops.values()):.2f} GFLOPs)\n")
    table = []
    for name, choice in rows:
        e2e, mean_cost = combine(runs, cost, choice)
        shares = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(choice.values()).items()))
        table.append([name, f"{e2e:.1f}", f"{mean_cost:.0f}", shares])
    print(markdown_table(["selection", "E2E", "GFLOPs %", "images per scale"], table))


if __name__ == "__main__":
    main()
