"""Finished evaluations side by side: accuracy, cost and chosen input scales.

Reads what an evaluation writes into its folder (``<OUTPUT_DIR>/inference/<dataset>/``):
``text_results.json`` (accuracy, chosen-scale histogram) and ``model_metrics.json`` (FLOPs,
speed, recognition on ground-truth boxes).

    python -m dld_spotter.evaluation.compare teacher=output/teacher_tiny/inference/synth_val \\
        student=output/dld_tiny/inference/synth_val
"""
from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence

__all__ = ["load_run", "comparison_table", "scale_table", "markdown_table"]

# (row key, column title, format) of the accuracy and cost table.
COLUMNS = (
    ("det_hmean", "Det H-mean", "{:.1f}"),
    ("e2e_hmean", "E2E H-mean", "{:.1f}"),
    ("ws_hmean", "Word-spotting H-mean", "{:.1f}"),
    ("rec_accuracy", "Rec. on GT (%)", "{:.1f}"),
    ("gflops", "GFLOPs", "{:.2f}"),
    ("fps", "images/s", "{:.2f}"),
    ("mean_scale", "mean scale", "{:.2f}"),
)


def load_run(folder: str) -> dict:
    """One evaluation folder as a flat row: the keys of :data:`COLUMNS` (NaN where not
    measured) and ``scales`` (``{scale: share of images in %}``, empty for a fixed-input
    model)."""
    results_file = os.path.join(folder, "text_results.json")
    if not os.path.isfile(results_file):
        raise FileNotFoundError(
            f"{results_file} does not exist: evaluate the model first (train_net.py "
            "--eval-only ...) or point at its <OUTPUT_DIR>/inference/<dataset> folder"
        )
    with open(results_file) as f:
        results = json.load(f)
    row = {key: math.nan for key, _, _ in COLUMNS}
    row.update({k: results["metrics"][k] for k in ("det_hmean", "e2e_hmean", "ws_hmean")})
    metrics_file = os.path.join(folder, "model_metrics.json")
    if os.path.isfile(metrics_file):
        with open(metrics_file) as f:
            extra = json.load(f)
        row["gflops"] = extra.get("cost", {}).get("gflops", math.nan)
        row["fps"] = extra.get("cost", {}).get("fps", math.nan)
        row["rec_accuracy"] = extra.get("recognition", {}).get("rec_accuracy", math.nan)
    counts = {float(k[len("scale_"):-len("_images")]): v
              for k, v in results.get("scale_histogram", {}).items()}
    total = sum(counts.values())
    row["scales"] = {s: 100.0 * n / total for s, n in sorted(counts.items())} if total else {}
    if total:
        row["mean_scale"] = sum(s * n for s, n in counts.items()) / total
    return row


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _fmt(fmt: str, value: float) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else fmt.format(value)


def comparison_table(runs: dict[str, dict]) -> str:
    """Markdown table of :func:`load_run` rows, one per named run."""
    header = ["model"] + [title for _, title, _ in COLUMNS]
    rows = [[name] + [_fmt(fmt, row.get(key, math.nan)) for key, _, fmt in COLUMNS]
            for name, row in runs.items()]
    return markdown_table(header, rows)


def scale_table(runs: dict[str, dict]) -> str:
    """Markdown table of the chosen-scale shares (% of images) of the runs that choose."""
    chosen = {name: row["scales"] for name, row in runs.items() if row.get("scales")}
    if not chosen:
        return ""
    scales = sorted({s for hist in chosen.values() for s in hist})
    header = ["scale"] + list(chosen)
    rows = [[f"{s:g}"] + [f"{hist.get(s, 0.0):.1f}%" for hist in chosen.values()]
            for s in scales]
    return markdown_table(header, rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=FOLDER",
                        help="a name and an evaluation folder (<OUTPUT_DIR>/inference/<dataset>)")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, sep, folder = item.partition("=")
        if not sep:
            parser.error(f"{item!r}: expected NAME=FOLDER")
        runs[name] = load_run(folder)
    print(comparison_table(runs))
    scales = scale_table(runs)
    if scales:
        print("\nChosen input scale (% of images):\n" + scales)


if __name__ == "__main__":
    main()
