#!/usr/bin/env python
"""Images/s of PyTorch eager and onnxruntime, side by side in one run: each model is exported
(``dld_spotter.export``), then every test image is spotted by ``TextPredictor`` and by
``OnnxTextPredictor`` in turn (which one goes first alternates), one image a call, as the demo
spots; each call is timed whole (resize, model, decoding, pasting the masks).

    .venv/bin/python tools/benchmark_export.py --output output/benchmark_export \\
        --model teacher configs/synth/teacher_tiny.yaml dld_spotter://teacher_tiny.pth \\
        --model "DLD student" configs/synth/dld_tiny_sized.yaml \\
            output/dld_tiny_sized/model_final.pth

A model is ``NAME CONFIG WEIGHTS [KEY VALUE ...]``. The table gives each model's images/s in
both runtimes, their ratio, and how far onnxruntime's outputs are from PyTorch's (detections
read the same, the largest box difference, images read at the same scale); the line below it
gives each model's onnxruntime images/s as a ratio to the first model's. ``--output`` keeps
the export folders and ``results.json`` (written atomically).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch


def time_both(predictors: dict, images: list, warmup: int) -> tuple[dict, object]:
    """Seconds per call of each of the two ``predictors`` (``{"PyTorch": ..., "onnxruntime":
    ...}``) on every image after the first ``warmup``, and the :class:`Agreement` of their
    outputs on all of them."""
    from dld_spotter.export.agreement import Agreement

    names = list(predictors)
    seconds = {name: [] for name in names}
    agreement = Agreement()
    for i, image in enumerate(images):
        outputs = {}
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            outputs[name] = predictors[name](image)
            if i >= warmup:
                seconds[name].append(time.perf_counter() - start)
        agreement.add(outputs[names[0]], outputs[names[1]])
    return seconds, agreement


def table(results: dict) -> str:
    """A Markdown table, a row per model, and the onnxruntime ratios to the first model."""
    lines = ["| model | PyTorch eager (images/s) | onnxruntime (images/s) | onnxruntime / PyTorch "
             "| words read the same | largest box difference (px) | same scale |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a = r["agreement"]
        scale = f"{a['same_scale']} / {a['images']}" if r["dynamic"] else "–"
        lines.append(f"| {name} | {r['PyTorch']:.2f} | {r['onnxruntime']:.2f} | "
                     f"{r['onnxruntime'] / r['PyTorch']:.2f}× | {a['same_text']} / "
                     f"{a['detections']} | {a['max_box_diff']:.3f} | {scale} |")
    first, *others = results
    for name in others:
        ratio = {k: results[name][k] / results[first][k] for k in ("onnxruntime", "PyTorch")}
        lines.append(f"\n{name} / {first} under onnxruntime: {ratio['onnxruntime']:.2f}× "
                     f"(PyTorch eager: {ratio['PyTorch']:.2f}×)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synth_val", help="a registered test set")
    parser.add_argument("--images", type=int, default=100, help="images timed per model")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2,
                        help="onnxruntime's threads per operator (PyTorch: torch's default)")
    parser.add_argument("--output", required=True, help="export folders and results.json")

    from detectron2.data import DatasetCatalog

    from dld_spotter.config import load_config
    from dld_spotter.data.mapper import read_image_or_explain
    from dld_spotter.engine import TextPredictor
    from dld_spotter.evaluation.breakdown import parse_model_specs, report
    from dld_spotter.export import OnnxTextPredictor, export_model
    from dld_spotter.files import atomic_write
    from dld_spotter.modeling import DLDSpotter

    a = parse_model_specs(parser, argv, ("NAME", "CONFIG", "WEIGHTS"))
    torch.set_flush_denormal(True)
    results = {}
    for name, config, weights, *opts in a.model:
        cfg = load_config(config, [*opts, "MODEL.WEIGHTS", weights, "MODEL.DEVICE", "cpu"])
        dicts = DatasetCatalog.get(a.dataset)[: a.images + a.warmup]
        if len(dicts) <= a.warmup:
            raise ValueError(f"{a.dataset}: no image after the {a.warmup} warm-up images")
        images = [read_image_or_explain(d["file_name"], "BGR") for d in dicts]
        torch_predictor = TextPredictor(cfg)
        folder = os.path.join(a.output, name.replace(" ", "_"))
        export_model(torch_predictor.model, cfg, folder)
        predictors = {"PyTorch": torch_predictor,
                      "onnxruntime": OnnxTextPredictor(folder, threads=a.threads)}
        seconds, agreement = time_both(predictors, images, a.warmup)
        results[name] = {k: len(v) / sum(v) for k, v in seconds.items()}
        results[name].update(agreement=agreement.as_dict(), config=config, weights=weights,
                             opts=opts, dynamic=isinstance(torch_predictor.model, DLDSpotter))
        print(f"{name}: PyTorch {results[name]['PyTorch']:.2f}, onnxruntime "
              f"{results[name]['onnxruntime']:.2f} images/s", file=sys.stderr, flush=True)
    with atomic_write(os.path.join(a.output, "results.json")) as f:
        json.dump({"dataset": a.dataset, "images": a.images, "threads": a.threads,
                   "torch_threads": torch.get_num_threads(), "models": results}, f, indent=1)
    return report(f"{a.dataset}, {a.images} images, one image a call, onnxruntime with "
                  f"{a.threads} threads", "cpu", table(results))


if __name__ == "__main__":
    main()
