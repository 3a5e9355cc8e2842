#!/usr/bin/env python
"""SKD's own gain (the paper's Table 1, SKD-only against Vanilla L) with its control, in one run.

    .venv/bin/python tools/skd_gain.py --student-iters 300 --opts SEED 4   # ~30 min, 2 CPU cores

The miniature Table 1 (``tools/dld_mini_benchmark.py``) compares SKD-only with L, the teacher H
*tested* at half its resolution. SKD-only also fine-tunes at 0.5x for its iterations, so that
comparison mixes distillation with adaptation to the low resolution. Here every student starts
from H, runs at 0.5x and trains for the same iterations on the same data with the same seed;
only what it learns from differs:

* ``Vanilla L (trained)``: no teacher (``configs/synth/dld_tiny_vanilla_L.yaml``);
* ``SKD-only``: L_roi + L_con + L_seq (``configs/synth/dld_tiny_skd_only.yaml``);
* with ``--halves``, ``SKD L_seq only`` and ``SKD L_roi + L_con only``: each half alone.

Rows ``H`` and ``L`` are evaluated only. Each run is trained, then evaluated in an
``--eval-only`` process of its own; a finished run is not repeated. Writes ``--report``
``.md`` and ``.json``: Table 1's columns and Table A2's feature distances for every row.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dld_mini_benchmark as bench  # noqa: E402  (a sibling tool)

SKD_ONLY = os.path.join("configs", "synth", "dld_tiny_skd_only.yaml")


def skd_runs(teacher_config: str, halves: bool = False) -> list[bench.Run]:
    """The rows: H and L evaluated, the students at 0.5x trained alike (with ``halves``, also
    each half of SKD alone)."""
    rows = [
        bench.Run("H", teacher_config, train=False, student=False),
        bench.Run("L", teacher_config, train=False, student=False, test_scale=0.5),
        bench.Run("Vanilla L (trained)",
                  os.path.join("configs", "synth", "dld_tiny_vanilla_L.yaml")),
        bench.Run("SKD-only", SKD_ONLY),
    ]
    if halves:
        rows += [bench.Run("SKD L_seq only", SKD_ONLY, ["MODEL.DLD.SKD.ROI_WEIGHT", "0.0",
                                                        "MODEL.DLD.SKD.CON_WEIGHT", "0.0"]),
                 bench.Run("SKD L_roi + L_con only", SKD_ONLY,
                           ["MODEL.DLD.SKD.SEQ_WEIGHT", "0.0"])]
    return rows


def report(rows: dict[str, dict], dist: dict[str, dict], a: argparse.Namespace,
           wall_s: float, test_set: str) -> str:
    from dld_spotter.evaluation.compare import comparison_table, markdown_table

    control, skd = rows["Vanilla L (trained)"], rows["SKD-only"]
    gain = skd["e2e_hmean"] - control["e2e_hmean"]
    dist_rows = [[name, f"{d['roi_l2']:.3f}", f"{d['con_l2']:.3f}"] for name, d in dist.items()]
    return f"""# SKD's own gain: SKD-only against a Vanilla L trained alike

`{' '.join(['python', 'tools/skd_gain.py', *sys.argv[1:]])}`; {wall_s / 60:.0f} min of runs;
students: {a.student_iters} iterations from H at 0.5x, the same data and seed.

## Accuracy and cost on `{test_set}` (%, GFLOPs per image, images/s)

{comparison_table(rows)}

SKD-only − Vanilla L (trained): **{gain:+.1f}** E2E H-mean, {skd['gflops']:.2f} against
{control['gflops']:.2f} GFLOPs.

## Feature distance between H at 1.0x and each model at 0.5x on `synth_val`'s words (unit-norm L2)

{markdown_table(["model at 0.5x", "RoI feature", "contextual feature"], dist_rows)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench.add_run_args(parser, "output/skd_gain", "docs/benchmarks/skd_gain")
    parser.add_argument("--teacher-config", default="configs/synth/teacher_tiny.yaml")
    parser.add_argument("--teacher-weights", default="dld_spotter://teacher_tiny.pth")
    parser.add_argument("--student-iters", type=int, default=300)
    parser.add_argument("--halves", action="store_true",
                        help="also train each half of SKD alone (two more students)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="config options for every run (KEY VALUE ...)")
    a = parser.parse_args()
    a.teacher_iters = 0
    bench.enter(a)
    from dld_spotter.config import load_config

    cfg = load_config(a.teacher_config, a.opts)
    test_size = (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    runs = skd_runs(a.teacher_config, a.halves)
    start = time.time()
    rows = {}
    for i, run in enumerate(runs, 1):
        bench.log(f"[{i}/{len(runs)}] {run.name} (elapsed {(time.time() - start) / 60:.1f} min)")
        rows[run.name] = bench.execute(run, a, a.out, a.teacher_weights, test_size)
    dist = bench.distances(a, a.out, a.teacher_weights, runs)
    wall_s = sum(r["wall_s"] for r in rows.values())
    text = report(rows, dist, a, wall_s, ", ".join(cfg.DATASETS.TEST))
    os.makedirs(os.path.dirname(a.report) or ".", exist_ok=True)
    with open(a.report + ".md", "w") as f:
        f.write(text)
    with open(a.report + ".json", "w") as f:
        json.dump({"args": vars(a), "runs": rows, "feature_distances": dist}, f, indent=1)
    print("\n" + text)


if __name__ == "__main__":
    main()
