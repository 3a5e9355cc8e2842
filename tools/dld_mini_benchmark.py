#!/usr/bin/env python
"""The paper's Tables 1, A1, 5 and A2 in miniature, on the synthetic benchmark, in one command.

    .venv/bin/python tools/dld_mini_benchmark.py        # ~35 min on 2 CPU cores

Runs, each in its own process, into ``--out/<run>``:

* ``H``: the high-resolution model (``--teacher-config``, vanilla multi-scale training);
* ``L``: ``H`` tested at half its resolution (vanilla multi-scale, low resolution);
* ``SKD-only`` (student fixed at 0.5x), ``DRS-only`` and ``DLD`` at gamma 0.1 and 0.3: students
  that start from ``H`` and are distilled from it (``configs/synth/dld_tiny*.yaml``).

Each trained run is then evaluated again in an ``--eval-only`` process of its own, as ``H``
and ``L`` are, so that every row's images/s is measured the same way. Then the tool computes
the high/low-resolution feature distances (Table A2) of ``H`` and of the students, and writes
``--report`` ``.md``, ``.json`` and ``.png`` (end-to-end H-mean versus GFLOPs).

The selectors start from scratch as in §3.3, or from a pre-trained start given to the rows with
a selector only (``--selector-opts``, where ``{gamma}`` stands for the row's gamma; the
committed run used the starts pre-trained on each gamma's Eq. 4, MODEL_ZOO.md)::

    .venv/bin/python tools/dld_mini_benchmark.py --student-iters 300 --selector-opts \\
        MODEL.DLD.DRS.WEIGHTS "dld_spotter://selector_tiny_drs{gamma}.pth" \\
        MODEL.DLD.DRS.THUMBNAIL_SIZE 224 MODEL.DLD.DRS.NORM BN --opts SEED 4

A finished run is not repeated; an interrupted one (Ctrl-C saves a checkpoint) resumes from
its last checkpoint when the command is run again. To scale up (e.g. on GPUs): more data
(``--num-train``), longer schedules (``--teacher-iters``, ``--student-iters``), another
teacher (``--teacher-config``: model-shape options belong in that file, because the students
load the teacher from it), and config options for every run after ``--opts``::

    python tools/dld_mini_benchmark.py --num-train 20000 --teacher-iters 20000 \\
        --student-iters 4000 --out output/bench_gpu --opts MODEL.DEVICE cuda SOLVER.IMS_PER_BATCH 16
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field

PAPER_EPOCHS = 50  # §4.1: the students train 50 epochs
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_NET = os.path.join(ROOT, "projects", "DLD", "train_net.py")

# The child process: run train_net.py, then record its wall time and peak memory.
CHILD = """
import json, resource, runpy, sys, time
record, sys.argv = sys.argv[1], sys.argv[2:]
start = time.time()
runpy.run_path(sys.argv[0], run_name="__main__")
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
import torch
if torch.cuda.is_available():
    peak = torch.cuda.max_memory_allocated() / 2**30
with open(record, "w") as f:
    json.dump({"wall_s": time.time() - start, "peak_memory_gib": peak,
               "memory": "cuda" if torch.cuda.is_available() else "cpu_rss"}, f)
"""


@dataclass
class Run:
    """One row of Table 1: a config, trained (from ``H`` for students) or only evaluated."""

    name: str
    config: str
    opts: list[str] = field(default_factory=list)
    train: bool = True
    student: bool = True
    test_scale: float = 1.0  # of an evaluation-only run: its test size relative to H's


def benchmark_runs(teacher_config: str, train_teacher: bool = True,
                   selector_opts: list[str] | None = None) -> list[Run]:
    """The rows of Table 1; ``selector_opts`` go to the rows with a selector (DRS-only, DLD),
    e.g. a pre-trained selector start, with ``{gamma}`` replaced by the row's gamma (a start
    pre-trained for that gamma: ``tools/train_selector.py --labels drs``)."""
    synth = os.path.join("configs", "synth")

    def sel(gamma: str) -> list[str]:
        return [o.replace("{gamma}", gamma) for o in selector_opts or []]

    return [
        Run("H", teacher_config, train=train_teacher, student=False),
        Run("L", teacher_config, train=False, student=False, test_scale=0.5),
        Run("SKD-only", os.path.join(synth, "dld_tiny_skd_only.yaml")),
        Run("DRS-only γ=0.1", os.path.join(synth, "dld_tiny_drs_only.yaml"), sel("0.1")),
        Run("DRS-only γ=0.3", os.path.join(synth, "dld_tiny_drs_only.yaml"),
            ["MODEL.DLD.DRS.FLOPS_WEIGHT", "0.3", *sel("0.3")]),
        Run("DLD γ=0.1", os.path.join(synth, "dld_tiny.yaml"), sel("0.1")),
        Run("DLD γ=0.3", os.path.join(synth, "dld_tiny_gamma0.3.yaml"), sel("0.3")),
    ]


def folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", name.replace("γ=", "gamma")).strip("_")


def log(msg: str) -> None:
    print(f"[{datetime.datetime.now():%H:%M:%S}] {msg}", flush=True)


def run_child(args: list[str], out_dir: str, record: str) -> None:
    """``train_net.py args`` in a child process; its log in ``out_dir/benchmark_log.txt``,
    progress lines (detectron2's ETA) on the terminal."""
    os.makedirs(out_dir, exist_ok=True)
    log_file = os.path.join(out_dir, "benchmark_log.txt")
    cmd = [sys.executable, "-c", CHILD, record, TRAIN_NET, *args]
    with open(log_file, "a") as f, subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as proc:
        for line in proc.stdout:
            f.write(line)
            if " eta: " in line:
                print("    " + line.split("]:", 1)[-1].strip()[:110], flush=True)
        proc.wait()
    if proc.returncode != 0:
        with open(log_file) as f:
            tail = f.readlines()[-25:]
        sys.stdout.write("".join(tail))
        raise SystemExit(f"{' '.join(cmd[3:])} failed (exit {proc.returncode}); full log: "
                         f"{log_file}. Run this command again to resume.")


def seconds_per_iteration(out_dir: str) -> float:
    """Median of detectron2's per-window iteration times after the first 20 iterations."""
    times = []
    with open(os.path.join(out_dir, "metrics.json")) as f:
        for line in f:
            row = json.loads(line)
            if "time" in row and row.get("iteration", 0) >= 20:
                times.append(row["time"])
    times.sort()
    return times[len(times) // 2] if times else float("nan")


def temperature_epoch_images(run: Run, a: argparse.Namespace) -> int:
    """Images per temperature epoch that fit the paper's 50 epochs (§4.1) into a student's
    ``--student-iters`` iterations."""
    from dld_spotter.config import load_config

    cfg = load_config(run.config, [*run.opts, *a.opts])
    return max(1, a.student_iters * cfg.SOLVER.IMS_PER_BATCH // PAPER_EPOCHS)


def execute(run: Run, a: argparse.Namespace, out: str, teacher_weights: str,
            test_size: tuple[int, int]) -> dict:
    """Train and/or evaluate one run unless it finished before; its row of results."""
    from dld_spotter.config import load_config
    from dld_spotter.evaluation.compare import load_run

    out_dir = os.path.join(out, folder_name(run.name))
    record = os.path.join(out_dir, "benchmark_run.json")
    test_set = load_config(run.config, [*run.opts, *a.opts]).DATASETS.TEST[0]
    eval_dir = os.path.join(out_dir, "inference", test_set)
    if not os.path.isfile(record):
        args = ["--config-file", run.config, "--resume"] if run.train else \
            ["--config-file", run.config, "--eval-only"]
        opts = ["OUTPUT_DIR", out_dir, *run.opts]
        if run.student:
            iters = a.student_iters
            opts += ["MODEL.DLD.DRS.EPOCH_IMAGES", str(temperature_epoch_images(run, a)),
                     "MODEL.WEIGHTS", teacher_weights,
                     "MODEL.DLD.TEACHER.CONFIG", a.teacher_config,
                     "MODEL.DLD.TEACHER.WEIGHTS", teacher_weights]
        elif run.train:
            iters = a.teacher_iters
        else:
            iters = 0
            opts += ["MODEL.WEIGHTS", teacher_weights,
                     "INPUT.MIN_SIZE_TEST", str(round(test_size[0] * run.test_scale)),
                     "INPUT.MAX_SIZE_TEST", str(round(test_size[1] * run.test_scale))]
        if iters:  # evaluated afterwards in a process of its own (below), not here too
            opts += ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", f"({int(0.8 * iters)},)",
                     "SOLVER.CHECKPOINT_PERIOD", str(max(50, iters // 5)), "DATASETS.TEST", "()"]
        what = f"training {iters} iterations" if iters else "evaluating"
        log(f"{run.name}: {what} -> {out_dir}")
        run_child([*args, *a.opts, *opts], out_dir, record)  # the row's own options win
    fresh = os.path.join(out_dir, "benchmark_eval.json")
    if run.train and not os.path.isfile(fresh):
        # Every row's cost from an --eval-only process, as H's and L's: a student evaluated
        # in its training process, after training, ran 20-30 % slower (projects/DLD/README.md).
        log(f"{run.name}: evaluating in a fresh process -> {eval_dir}")
        final = os.path.join(out_dir, "model_final.pth")
        run_child(["--config-file", run.config, "--eval-only", "OUTPUT_DIR", out_dir,
                   *run.opts, *a.opts, "MODEL.WEIGHTS", final], out_dir, fresh)
    with open(record) as f:
        stats = json.load(f)
    row = load_run(eval_dir)
    row.update(wall_s=stats["wall_s"], peak_memory_gib=stats["peak_memory_gib"],
               memory=stats["memory"])
    row["s_per_iter"] = seconds_per_iteration(out_dir) if run.train else float("nan")
    row.update(scale_by_text_size(eval_dir, test_set))
    log(f"{run.name}: E2E {row['e2e_hmean']:.1f}, det {row['det_hmean']:.1f}, "
        f"{row['gflops']:.2f} GFLOPs ({stats['wall_s']:.0f} s)")
    return row


def distances(a: argparse.Namespace, out: str, teacher_weights: str,
              runs: list[Run]) -> dict[str, dict]:
    """Table A2: H at 1.0x against each model at 0.5x, on ``synth_val``'s words."""
    cache = os.path.join(out, "feature_distances.json")
    if os.path.isfile(cache):
        with open(cache) as f:
            return json.load(f)
    import torch
    from detectron2.data import DatasetCatalog

    from dld_spotter.checkpoint import load_strict
    from dld_spotter.config import load_config, resolve_device
    from dld_spotter.engine import TextSpotterTrainer
    from dld_spotter.evaluation.feature_distance import feature_distances

    def build(config: str, weights: str, opts: list[str]):
        every_opt = [*opts, *a.opts, "MODEL.WEIGHTS", weights]
        cfg = resolve_device(load_config(config, every_opt), every_opt)
        model = TextSpotterTrainer.build_model(cfg)
        load_strict(model, weights, f"the weights of {config}")
        return cfg, model.eval()

    log("Table A2: high/low-resolution feature distances")
    torch.set_flush_denormal(True)
    cfg, high = build(a.teacher_config, teacher_weights, [])
    loader = TextSpotterTrainer.build_test_loader(cfg, "synth_val")
    gt = {d["image_id"]: d for d in DatasetCatalog.get("synth_val")}
    result = {"Vanilla multi-scale (H)": feature_distances(high, high, loader, gt)}
    for run in runs:
        if run.student and "DRS-only" not in run.name:
            weights = os.path.join(out, folder_name(run.name), "model_final.pth")
            _, low = build(run.config, weights, run.opts)
            result[run.name] = feature_distances(high, low, loader, gt)
    with open(cache, "w") as f:
        json.dump(result, f, indent=1)
    return result


# Below this end-to-end H-mean, H does not read and accuracy targets compare noise.
MIN_READING_HMEAN = 10.0
# The generator's shares of small-text-only and large-text-only images (``SynthConfig``).
TEXT_SIZE_SHARE = 0.3


def scale_by_text_size(eval_dir: str, dataset: str = "synth_val") -> dict[str, float]:
    """The mean input scale a selector chose on the images of smallest and of largest text:
    images ranked by the median height of their cared words, the first and last
    ``TEXT_SIZE_SHARE`` of them; ``{}`` for a model that does not choose."""
    import numpy as np
    from detectron2.data import DatasetCatalog

    from dld_spotter.data.stream import text_heights

    with open(os.path.join(eval_dir, "text_per_image.json")) as f:
        chosen = {im["image_id"]: im["scale"] for im in json.load(f) if "scale" in im}
    if not chosen:
        return {}
    size = {}
    for d in DatasetCatalog.get(dataset):
        polygons = [a["segmentation"][0] for a in d["annotations"] if not a["ignore"]]
        if d["image_id"] in chosen and polygons:
            size[d["image_id"]] = float(np.median(text_heights(polygons)))
    ranked = sorted(size, key=size.get)
    n = max(1, round(TEXT_SIZE_SHARE * len(ranked)))
    small, large = ranked[:n], ranked[-n:]
    return {"small_text_scale": float(np.mean([chosen[i] for i in small])),
            "large_text_scale": float(np.mean([chosen[i] for i in large])),
            "small_text_height": float(np.median([size[i] for i in small])),
            "large_text_height": float(np.median([size[i] for i in large])),
            "images_per_group": n}


def check_targets(rows: dict[str, dict],
                  dist: dict[str, dict]) -> list[tuple[str, bool | None, str]]:
    """The issue's targets: (statement, met, the numbers); ``met`` is None for the
    accuracy targets when H reads too little (E2E below ``MIN_READING_HMEAN``) to judge."""
    h, low, skd = rows["H"], rows["L"], rows["SKD-only"]
    d1, d3 = rows["DLD γ=0.1"], rows["DLD γ=0.3"]
    ratio = d1["gflops"] / h["gflops"]
    cost = d3["gflops"] / skd["gflops"]
    speed = d1["s_per_iter"] / skd["s_per_iter"]
    fps = d1["fps"] / h["fps"]
    reads = h["e2e_hmean"] >= MIN_READING_HMEAN
    vanilla, skd_dist = dist["Vanilla multi-scale (H)"], dist["SKD-only"]
    small, large = d1.get("small_text_scale", math.nan), d1.get("large_text_scale", math.nan)

    def judged(met: bool) -> bool | None:
        return met if reads else None

    return [
        ("L at least 5 points of E2E below H", judged(h["e2e_hmean"] - low["e2e_hmean"] >= 5),
         f"H {h['e2e_hmean']:.1f}, L {low['e2e_hmean']:.1f}"),
        ("DLD γ=0.1: E2E ≥ H − 1 at ≤ 55 % of H's GFLOPs",
         judged(d1["e2e_hmean"] >= h["e2e_hmean"] - 1 and ratio <= 0.55),
         f"{d1['e2e_hmean']:.1f} vs {h['e2e_hmean']:.1f}, {100 * ratio:.0f} % of the GFLOPs"),
        ("DLD γ=0.3: E2E ≥ SKD-only + 1 at ≤ SKD-only's GFLOPs + 10 %",
         judged(d3["e2e_hmean"] >= skd["e2e_hmean"] + 1 and cost <= 1.10),
         f"{d3['e2e_hmean']:.1f} vs {skd['e2e_hmean']:.1f}, {100 * cost:.0f} % of the GFLOPs"),
        ("DLD γ=0.1: ≥ 1.6× H's images/s", fps >= 1.6,
         f"{d1['fps']:.2f} vs {h['fps']:.2f} images/s ({fps:.2f}×)"),
        ("DLD γ=0.1 chooses a higher mean scale on small-text images than on large-text ones",
         small > large, f"{small:.2f} vs {large:.2f} (the {100 * TEXT_SIZE_SHARE:.0f} % of "
         f"images of smallest / largest median word height)"),
        ("Table A2: SKD-only's RoI and contextual features closer to H's than Vanilla L's",
         skd_dist["roi_l2"] < vanilla["roi_l2"] and skd_dist["con_l2"] < vanilla["con_l2"],
         f"RoI {skd_dist['roi_l2']:.3f} vs {vanilla['roi_l2']:.3f}, contextual "
         f"{skd_dist['con_l2']:.3f} vs {vanilla['con_l2']:.3f}"),
        ("DLD training ≤ 1.5× SKD-only's time per iteration", speed <= 1.5,
         f"{d1['s_per_iter']:.2f} vs {skd['s_per_iter']:.2f} s/it ({speed:.2f}×)"),
    ]


def target_line(what: str, met: bool | None, numbers: str) -> str:
    """A Markdown check-list item; an unjudged target says why."""
    if met is None:
        return (f"- [ ] {what}: {numbers} — not judged: H's E2E H-mean is below "
                f"{MIN_READING_HMEAN:.0f}, it does not read yet (train it longer)")
    return f"- [{'x' if met else ' '}] {what}: {numbers}"


def report(rows: dict[str, dict], dist: dict[str, dict], a: argparse.Namespace,
           wall_s: float, device: str) -> str:
    import torch

    from dld_spotter.evaluation.compare import comparison_table, markdown_table, scale_table

    if device.startswith("cuda"):
        machine = f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    else:
        machine = (f"CPU ({platform.machine()}, {os.cpu_count()} cores), "
                   f"torch {torch.__version__}")
    train_rows = [[name, f"{r['s_per_iter']:.2f}", f"{r['peak_memory_gib']:.2f}",
                   f"{r['wall_s'] / 60:.1f}"]
                  for name, r in rows.items() if r["s_per_iter"] == r["s_per_iter"]]
    dist_rows = [[name, f"{d['roi_l2']:.3f}", f"{d['con_l2']:.3f}", f"{d['num_words']:.0f}"]
                 for name, d in dist.items()]
    size_rows = [[name, f"{r['small_text_scale']:.2f}", f"{r['large_text_scale']:.2f}"]
                 for name, r in rows.items() if "small_text_scale" in r]
    first = next((r for r in rows.values() if "small_text_scale" in r), None)
    size_note = "" if first is None else (
        f" ({first['images_per_group']} images each, median word height "
        f"{first['small_text_height']:.0f} px and {first['large_text_height']:.0f} px)")
    teacher = (f"H: {a.teacher_weights}, trained before this run" if a.teacher_weights
               else f"H: {a.teacher_iters} iterations")
    targets = "\n".join(target_line(*target) for target in check_targets(rows, dist))
    return f"""# DLD in miniature: synthetic benchmark

`{' '.join(['python', 'tools/dld_mini_benchmark.py', *sys.argv[1:]])}` — {datetime.date.today()},
{machine}; {wall_s / 60:.0f} min for the runs below ({teacher}, students {a.student_iters}
iterations; {a.num_train} training / {a.num_val} validation images).

## Table 1: accuracy and cost on `synth_val` (%, GFLOPs per image, images/s)

{comparison_table(rows)}

## Table A1: chosen input scale (% of images)

{scale_table(rows)}

Mean chosen scale on the images of smallest and of largest text{size_note}:

{markdown_table(["model", "small-text images", "large-text images"], size_rows)}

## Table 5: training cost

{markdown_table(["run", "s / iteration", "peak memory (GiB)", "wall (min)"], train_rows)}

## Table A2: feature distance between H at 1.0× and each model at 0.5× (unit-norm L2)

{markdown_table(["model at 0.5×", "RoI feature", "contextual feature", "words"], dist_rows)}

## Targets

{targets}
"""


def plot(rows: dict[str, dict], path: str) -> None:
    """End-to-end and detection H-mean versus GFLOPs, one marker per run, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120, sharex=True)
    for ax, key, label in zip(axes, ("e2e_hmean", "det_hmean"), ("end-to-end", "detection")):
        for name, r in rows.items():
            ax.scatter(r["gflops"], r[key], s=60, label=name,
                       marker="*" if name.startswith("DLD") else "o")
        ax.set_ylim(0, 100)
        ax.set_xlabel("GFLOPs per image")
        ax.set_ylabel(f"{label} H-mean (%)")
        ax.set_title(f"synth_val: {label} accuracy versus cost")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def add_run_args(parser: argparse.ArgumentParser, out: str, report: str) -> None:
    """The options that every benchmark of runs has: where the data, the runs and the report
    go (``--opts``, the last, each tool adds itself)."""
    parser.add_argument("--datasets", default="datasets",
                        help="root of the data sets ($DLD_DATASETS); the set is <root>/synth")
    parser.add_argument("--out", default=out, help="runs go here")
    parser.add_argument("--report", default=report, help="path prefix of the report files")


def enter(a: argparse.Namespace) -> None:
    """Run from the repository root with ``a.datasets`` as ``$DLD_DATASETS``."""
    os.chdir(ROOT)
    os.environ["DLD_DATASETS"] = a.datasets
    os.environ.setdefault("PYTHONWARNINGS", "ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(parser, "output/mini_bench", "docs/benchmarks/mini_tables")
    parser.add_argument("--num-train", type=int, default=2000)
    parser.add_argument("--num-val", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher-config", default="configs/synth/teacher_tiny.yaml")
    parser.add_argument("--teacher-iters", type=int, default=720)
    parser.add_argument("--teacher-weights", default="dld_spotter://teacher_tiny.pth",
                        help="the trained H (a checkpoint of --teacher-config; default: the "
                             "one shipped with the package); '' trains H here (from "
                             "--teacher-config's MODEL.WEIGHTS, its pre-training)")
    parser.add_argument("--student-iters", type=int, default=150)
    parser.add_argument("--selector-opts", nargs="*", default=[], metavar="KEY VALUE",
                        help="config options for the runs with a selector only, e.g. the "
                             "size-rule start of configs/synth/dld_tiny_sized.yaml: "
                             "MODEL.DLD.DRS.WEIGHTS dld_spotter://selector_tiny.pth "
                             "MODEL.DLD.DRS.THUMBNAIL_SIZE 224 MODEL.DLD.DRS.NORM BN; "
                             "{gamma} stands for each row's gamma (default: the paper's "
                             "selector, from scratch)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="config options for every run (KEY VALUE ...)")
    a = parser.parse_args()
    enter(a)
    start = time.time()

    from detectron2.utils.file_io import PathManager

    from dld_spotter.config import load_config, resolve_device
    from dld_spotter.data.synth import generate_dataset

    log(f"synthetic set: {a.num_train} train / {a.num_val} val images in {a.datasets}/synth")
    generate_dataset(os.path.join(a.datasets, "synth"), a.num_train, a.num_val, a.seed)
    cfg = resolve_device(load_config(a.teacher_config, a.opts), a.opts)
    test_size = (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    teacher_weights = a.teacher_weights or os.path.join(a.out, "H", "model_final.pth")
    if a.teacher_weights and not PathManager.isfile(a.teacher_weights):
        raise SystemExit(f"--teacher-weights {a.teacher_weights}: no such file; train it "
                         "(bash scripts/train_teacher.sh) or pass '' to train H here")
    runs = benchmark_runs(a.teacher_config, train_teacher=not a.teacher_weights,
                          selector_opts=a.selector_opts)
    rows = {}
    for i, run in enumerate(runs, 1):
        log(f"[{i}/{len(runs)}] {run.name} (elapsed {(time.time() - start) / 60:.1f} min)")
        rows[run.name] = execute(run, a, a.out, teacher_weights, test_size)
    dist = distances(a, a.out, teacher_weights, runs)
    wall_s = sum(r["wall_s"] for r in rows.values())

    os.makedirs(os.path.dirname(a.report) or ".", exist_ok=True)
    text = report(rows, dist, a, wall_s, cfg.MODEL.DEVICE)
    with open(a.report + ".md", "w") as f:
        f.write(text)
    with open(a.report + ".json", "w") as f:
        json.dump({"args": vars(a), "runs": rows, "feature_distances": dist,
                   "targets": [{"target": t, "met": m, "numbers": n}
                               for t, m, n in check_targets(rows, dist)]}, f, indent=1)
    plot(rows, a.report + ".png")
    print("\n" + text)
    log(f"written {a.report}.md/.json/.png in {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
