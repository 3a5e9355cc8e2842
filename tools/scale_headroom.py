"""How much a per-image choice of input scale could buy: one model evaluated at several fixed
scales, recombined image by image.

Reads each evaluation folder's ``text_per_image.json`` (end-to-end matches, no lexicon) and
``model_metrics.json`` (mean GFLOPs), and prints the end-to-end H-mean and mean GFLOPs (% of
the largest scale's) of
  * every fixed scale,
  * a *size rule*: per image the smallest scale at which its smallest legible word is at least
    ``H`` input pixels high (what a selector that sees only text size could do),
  * an *oracle*: per image the scale that maximises ``TP - (FP + FN) / 2 - lam * GFLOPs %/10``
    (an upper bound that also profits from per-image noise).

    python tools/scale_headroom.py --annotations datasets/synth/val.json --base-size 480 \\
        1.0=/tmp/s480/inference/synth_val 0.8=/tmp/s384/inference/synth_val ...
"""
from __future__ import annotations

import argparse
import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence

from shapely.geometry import Polygon

Counts = tuple[int, int, int]  # true positives, false positives, false negatives


def per_image_counts(folder: str) -> dict[int, Counts]:
    """``{image_id: (TP, FP, FN)}`` of the end-to-end task (no lexicon) of one evaluation."""
    path = os.path.join(folder, "text_per_image.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist: evaluate with train_net.py "
                                "--eval-only and point at <OUTPUT_DIR>/inference/<dataset>")
    with open(path) as f:
        images = json.load(f)
    out = {}
    for im in images:
        e2e = im["details"]["end_to_end"]["none"]
        tp = sum(bool(m["correct"]) for m in e2e["matches"])
        out[im["image_id"]] = (tp, len(e2e["false_positives"]), len(e2e["misses"]))
    return out


def hmean(counts: Sequence[Counts]) -> float:
    """End-to-end H-mean (%) of summed per-image counts."""
    tp, fp, fn = (sum(c[i] for c in counts) for i in range(3))
    if tp == 0:
        return 0.0
    p, r = tp / (tp + fp), tp / (tp + fn)
    return 200 * p * r / (p + r)


def band_height(polygon: Sequence[float]) -> float:
    """Height of a word's polygon ``[x0, y0, x1, y1, ...]`` taken as a band (straight or
    curved) of length ``L`` and height ``h``: area ``L h``, perimeter ``2 (L + h)``."""
    shape = Polygon(list(zip(polygon[::2], polygon[1::2])))
    half_perimeter, area = shape.length / 2, shape.area
    return (half_perimeter - math.sqrt(max(half_perimeter**2 - 4 * area, 0.0))) / 2


def smallest_word_heights(annotations: str, base_size: int) -> dict[int, float]:
    """``{image_id: height}`` of each image's smallest non-ignored word at the test
    resolution ``base_size`` (shorter side)."""
    with open(annotations) as f:
        coco = json.load(f)
    factor = {im["id"]: base_size / min(im["height"], im["width"]) for im in coco["images"]}
    out: dict[int, float] = {}
    for ann in coco["annotations"]:
        if not ann.get("ignore"):
            height = band_height(ann["segmentation"][0]) * factor[ann["image_id"]]
            out[ann["image_id"]] = min(out.get(ann["image_id"], math.inf), height)
    return out


def combine(runs: Mapping[float, dict[int, Counts]], cost: Mapping[float, float],
            choice: Mapping[int, float]) -> tuple[float, float]:
    """H-mean and mean cost of running image ``i`` at scale ``choice[i]``."""
    return (hmean([runs[s][i] for i, s in choice.items()]),
            sum(cost[s] for s in choice.values()) / len(choice))


def size_rule(heights: Mapping[int, float], scales: Sequence[float], images: Sequence[int],
              min_height: float) -> dict[int, float]:
    """Per image the smallest scale keeping its smallest word >= ``min_height`` px, else the
    largest scale (images without words: the smallest)."""
    out = {}
    for i in images:
        fits = [s for s in scales if heights.get(i, math.inf) * s >= min_height]
        out[i] = min(fits) if fits else max(scales)
    return out


def oracle(runs: Mapping[float, dict[int, Counts]], cost: Mapping[float, float],
           images: Sequence[int], lam: float) -> dict[int, float]:
    """Per image the scale maximising ``TP - (FP + FN) / 2 - lam * cost / 10``."""
    def gain(i: int, s: float) -> float:
        tp, fp, fn = runs[s][i]
        return tp - (fp + fn) / 2 - lam * cost[s] / 10
    return {i: max(sorted(runs), key=lambda s: gain(i, s)) for i in images}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="SCALE=FOLDER")
    parser.add_argument("--annotations", required=True, help="the data set's COCO-style json")
    parser.add_argument("--base-size", type=int, required=True,
                        help="the shorter side of the scale-1.0 evaluation")
    parser.add_argument("--heights", type=float, nargs="+", default=[8, 10, 12, 14, 16, 20])
    parser.add_argument("--lams", type=float, nargs="+", default=[0.1, 0.5, 1.0, 2.0])
    args = parser.parse_args(argv)
    runs, gflops = {}, {}
    for item in args.runs:
        scale, sep, folder = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: give SCALE=FOLDER")
        runs[float(scale)] = per_image_counts(folder)
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
    print(f"{len(images)} images; GFLOPs % of scale {max(gflops, key=gflops.get)} "
          f"({max(gflops.values()):.2f} GFLOPs)\n")
    print("| selection | E2E | GFLOPs % | images per scale |\n|---|---:|---:|---|")
    for name, choice in rows:
        e2e, mean_cost = combine(runs, cost, choice)
        shares = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(choice.values()).items()))
        print(f"| {name} | {e2e:.1f} | {mean_cost:.0f} | {shares} |")


if __name__ == "__main__":
    main()
