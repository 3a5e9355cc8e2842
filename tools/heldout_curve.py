#!/usr/bin/env python
"""Learning curves of recognition pre-training runs: held-out word accuracy against the word
crops seen, from each run's ``metrics.json`` (``RecognitionPretrainer`` evaluations).

    .venv/bin/python tools/heldout_curve.py output/pretrain_tiny_upright output/pretrain_tiny

A run that started from another's checkpoint continues its count with ``--offset`` crops
(one per run, in order; default 0). Prints one markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Dict, List, Sequence

import yaml


def heldout_points(run_dir: str) -> List[Dict[str, float]]:
    """``[{"iteration", "crops", "accuracy", "loss"}]`` of the run's held-out evaluations;
    crops = iterations x the run's ``SOLVER.IMS_PER_BATCH`` (its ``config.yaml``)."""
    with open(os.path.join(run_dir, "config.yaml")) as f:
        solver = yaml.safe_load(f)["SOLVER"]
    batch, max_iter = solver["IMS_PER_BATCH"], solver.get("MAX_ITER", float("inf"))
    points, loss = {}, float("nan")
    with open(os.path.join(run_dir, "metrics.json")) as f:
        for line in f:
            row = json.loads(line)
            loss = row.get("loss_rec", row.get("total_loss", loss))
            if "heldout_crops/word_accuracy" in row:
                it = min(row["iteration"] + 1, max_iter)  # the last one is logged at max_iter
                points[it] = {"iteration": it, "crops": it * batch, "loss": loss,
                              "accuracy": row["heldout_crops/word_accuracy"]}
    return [points[k] for k in sorted(points)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="OUTPUT_DIRs of pre-training runs")
    parser.add_argument("--offset", type=int, nargs="*", default=[],
                        help="crops seen before each run started (its starting checkpoint's)")
    args = parser.parse_args(argv)
    offsets = list(args.offset) + [0] * (len(args.runs) - len(args.offset))
    print("| run | iteration | crops seen | training loss | held-out word accuracy (%) |")
    print("|---|---:|---:|---:|---:|")
    for run, offset in zip(args.runs, offsets):
        for p in heldout_points(run):
            print(f"| {os.path.basename(run.rstrip('/'))} | {p['iteration']} | "
                  f"{p['crops'] + offset} | {p['loss']:.3f} | {p['accuracy']:.1f} |")


if __name__ == "__main__":
    main()
