#!/usr/bin/env python
"""The paper's Table 8 in miniature: DLD on two spotter families, on the synthetic benchmark.

    .venv/bin/python tools/table8_mini.py --selector-opts MODEL.DLD.DRS.WEIGHTS \\
        dld_spotter://selector_tiny.pth MODEL.DLD.DRS.THUMBNAIL_SIZE 224 MODEL.DLD.DRS.NORM BN

For each spotter (``SPOTTERS``: the Mask R-CNN ``TextSpotter`` and the segmentation-based
``SegTextSpotter``, each a trained tiny teacher): Vanilla multi-scale rows, the teacher tested
at S-480 ... S-160, and DLD at gamma 0.1 and 0.3, students that start from that teacher and
are distilled from it. The DLD rows of both spotters use the same configs
(``configs/synth/dld_tiny.yaml``, ``dld_tiny_gamma0.3.yaml``); one key,
``MODEL.DLD.BASE_ARCHITECTURE``, names the spotter they wrap. Runs go to
``--out/<spotter>/<row>`` (a finished run is not repeated, see ``dld_mini_benchmark.py``);
writes ``--report`` ``.md``, ``.json`` and ``.png`` (H-mean against GFLOPs).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dld_mini_benchmark as bench  # noqa: E402  (a sibling tool)

# name: (teacher config, trained teacher weights)
SPOTTERS = {
    "Mask R-CNN": ("configs/synth/teacher_tiny.yaml", "dld_spotter://teacher_tiny.pth"),
    "Segmentation": ("configs/synth/seg_teacher_tiny.yaml", "dld_spotter://seg_teacher_tiny.pth"),
}
SIZES = (480, 400, 320, 240, 160)
GAMMAS = {"0.1": "dld_tiny.yaml", "0.3": "dld_tiny_gamma0.3.yaml"}


def spotter_runs(teacher_config: str, selector_opts: list[str],
                 gammas: list[str] | None = None) -> list[bench.Run]:
    """Vanilla rows at each of ``SIZES`` (the teacher's own test size is ``SIZES[0]``) and the
    DLD rows of ``gammas`` (default: all of ``GAMMAS``), wrapping the teacher config's
    META_ARCHITECTURE."""
    from dld_spotter.config import load_config

    cfg = load_config(teacher_config)
    base = ["MODEL.DLD.BASE_ARCHITECTURE", cfg.MODEL.META_ARCHITECTURE]
    scale = 1.0 / cfg.INPUT.MIN_SIZE_TEST
    rows = [bench.Run(f"Vanilla S-{s}", teacher_config, train=False, student=False,
                      test_scale=s * scale) for s in SIZES]
    for gamma in gammas or list(GAMMAS):
        config = GAMMAS[gamma]
        opts = [*base, *[o.replace("{gamma}", gamma) for o in selector_opts]]
        rows.append(bench.Run(f"DLD γ={gamma}", os.path.join("configs", "synth", config), opts))
    return rows


def degradation(rows: dict[str, dict], key: str) -> float:
    """Points of ``key`` lost from the largest to the smallest Vanilla row."""
    return rows[f"Vanilla S-{SIZES[0]}"][key] - rows[f"Vanilla S-{SIZES[-1]}"][key]


def report(results: dict[str, dict[str, dict]], a: argparse.Namespace, wall_s: float) -> str:
    from dld_spotter.evaluation.compare import comparison_table, markdown_table

    sections, summary = [], []
    for spotter, rows in results.items():
        sections.append(f"### {spotter}\n\n{comparison_table(rows)}\n")
        h, dld = rows[f"Vanilla S-{SIZES[0]}"], rows["DLD γ=0.1"]
        summary.append([spotter, f"{degradation(rows, 'det_hmean'):.1f}",
                        f"{degradation(rows, 'e2e_hmean'):.1f}",
                        f"{dld['e2e_hmean'] - h['e2e_hmean']:+.1f}",
                        f"{100 * dld['gflops'] / h['gflops']:.0f} %"])
    tables = "\n".join(sections)
    summary_table = markdown_table(
        ["spotter", f"Det lost S-{SIZES[0]} → S-{SIZES[-1]}",
         f"E2E lost S-{SIZES[0]} → S-{SIZES[-1]}", "DLD γ=0.1 E2E − Vanilla S-480",
         "DLD γ=0.1 GFLOPs / Vanilla S-480"], summary)
    return f"""# Table 8 in miniature: DLD on two spotter families

`{' '.join(['python', 'tools/table8_mini.py', *sys.argv[1:]])}`; {wall_s / 60:.0f} min of runs;
DLD students {a.student_iters} iterations from their teacher. `synth_val` (100 images):
%, GFLOPs per image, images/s.

{tables}
## Across the two families

{summary_table}
"""


def plot(results: dict[str, dict[str, dict]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120, sharex=True)
    for ax, key, label in zip(axes, ("e2e_hmean", "det_hmean"), ("end-to-end", "detection")):
        for (spotter, rows), color in zip(results.items(), ("tab:blue", "tab:orange")):
            vanilla = [r for n, r in rows.items() if n.startswith("Vanilla")]
            ax.plot([r["gflops"] for r in vanilla], [r[key] for r in vanilla], "o-",
                    color=color, label=f"{spotter}, Vanilla S-{SIZES[0]}…{SIZES[-1]}")
            for n, r in rows.items():
                if n.startswith("DLD"):
                    ax.scatter(r["gflops"], r[key], marker="*", s=120, color=color,
                               edgecolors="black", label=f"{spotter}, {n}")
        ax.set_xlabel("GFLOPs per image")
        ax.set_ylabel(f"{label} H-mean (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    bench.add_run_args(parser, "output/table8_mini", "docs/benchmarks/table8_mini")
    parser.add_argument("--spotters", nargs="*", default=list(SPOTTERS), choices=list(SPOTTERS))
    parser.add_argument("--gammas", nargs="*", default=list(GAMMAS), choices=list(GAMMAS),
                        help="the DLD rows")
    parser.add_argument("--student-iters", type=int, default=150)
    parser.add_argument("--selector-opts", nargs="*", default=[], metavar="KEY VALUE",
                        help="config options of the DLD rows only; {gamma} stands for the "
                             "row's gamma (see dld_mini_benchmark.py)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="config options for every run (KEY VALUE ...)")
    a = parser.parse_args()
    bench.enter(a)
    from dld_spotter.config import load_config

    start, results = time.time(), {}
    for spotter in a.spotters:
        config, weights = SPOTTERS[spotter]
        args = copy.copy(a)
        args.teacher_config, args.teacher_iters = config, 0
        cfg = load_config(config, a.opts)
        test_size = (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
        out = os.path.join(a.out, bench.folder_name(spotter))
        results[spotter] = {}
        for run in spotter_runs(config, a.selector_opts, a.gammas):
            bench.log(f"{spotter} / {run.name} (elapsed {(time.time() - start) / 60:.1f} min)")
            results[spotter][run.name] = bench.execute(run, args, out, weights, test_size)
    wall_s = sum(r["wall_s"] for rows in results.values() for r in rows.values())
    text = report(results, a, wall_s)
    os.makedirs(os.path.dirname(a.report) or ".", exist_ok=True)
    with open(a.report + ".md", "w") as f:
        f.write(text)
    with open(a.report + ".json", "w") as f:
        json.dump({"args": vars(a), "runs": results}, f, indent=1)
    plot(results, a.report + ".png")
    print("\n" + text)


if __name__ == "__main__":
    main()
