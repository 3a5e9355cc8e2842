#!/usr/bin/env python
"""Where inference time goes: milliseconds per image in each stage of several trained models,
measured side by side in one run on a data set's test images (batch size 1, as ``fps`` is).

    .venv/bin/python tools/inference_breakdown.py \\
        --model H configs/synth/teacher_tiny.yaml dld_spotter://teacher_tiny.pth \\
        --model DLD configs/synth/dld_tiny_sized.yaml output/dld_tiny_sized/model_final.pth

A model is ``NAME CONFIG WEIGHTS [KEY VALUE ...]``. The stages are the selector (thumbnail and
network), the backbone, the RPN (head, proposal decoding and NMS), the box head (with its NMS),
the mask head, recognition, and "other": the rest of ``model(inputs)`` (pre-processing,
resizing, pasting masks into the image). Only the backbone and the RPN head grow with the
pixels; the other stages cost about the same at every scale, which caps the speed-up a smaller
input can give. On CUDA each stage is synchronised before and after.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict
from collections.abc import Iterable

import torch
from torch import nn

# (stage, path of the object under the model, attribute whose calls it times)
STAGES = [
    ("selector", "selector", "thumbnails"),
    ("selector", "selector", "forward"),
    ("backbone", "backbone", "forward"),
    ("RPN", "proposal_generator", "forward"),
    ("box head", "roi_heads", "_forward_box"),
    ("mask head", "roi_heads", "_forward_mask"),
    ("recognition", "roi_heads", "_forward_recognition"),
]


def breakdown(model: nn.Module, inputs: Iterable[dict], warmup: int = 2) -> dict[str, float]:
    """Mean milliseconds per image of each stage of ``model`` (timed as ``fps`` is: eval mode,
    one image a call, :func:`~dld_spotter.evaluation.cost.time_every_image`) and their
    ``"total"``; the first ``warmup`` images are run but not counted."""
    from dld_spotter.evaluation.breakdown import time_stages
    from dld_spotter.evaluation.cost import time_every_image

    inputs = list(inputs)
    if len(inputs) <= warmup:
        raise ValueError(f"breakdown: no image after the {warmup} warm-up images")
    seconds: dict[str, float] = defaultdict(float)
    spotter = "spotter." if hasattr(model, "spotter") else ""  # a DLD student's spotter
    time_stages(model, seconds, [(stage, path if path == "selector" else spotter + path, attr)
                                 for stage, path, attr in STAGES])
    time_every_image(model, [], inputs[:warmup])
    seconds.clear()
    times, _ = time_every_image(model, [[x] for x in inputs[warmup:]])
    ms = {stage: 1000 * s / len(times) for stage, s in seconds.items()}
    total = 1000 * sum(times) / len(times)
    ms["other"] = total - sum(ms.values())
    ms["total"] = total
    return ms


def table(results: dict[str, dict[str, float]]) -> str:
    """A Markdown table: a row per stage, a column of ms/image per model, images/s last."""
    from dld_spotter.evaluation.breakdown import stage_table

    order = [s for s in dict.fromkeys(s for s, _, _ in STAGES)
             if any(s in r for r in results.values())] + ["other"]
    lines = stage_table(results, order, "stage (ms / image)", 1)
    lines.append("| images/s | " + " | ".join(f"{1000 / r['total']:.2f}"
                                               for r in results.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synth_val", help="a registered test set")
    parser.add_argument("--images", type=int, default=50, help="images timed per model")
    parser.add_argument("--warmup", type=int, default=2)

    from dld_spotter.checkpoint import load_strict
    from dld_spotter.config import load_config, resolve_device
    from dld_spotter.engine import TextSpotterTrainer
    from dld_spotter.evaluation.breakdown import parse_model_specs, report

    a = parse_model_specs(parser, argv, ("NAME", "CONFIG", "WEIGHTS"))

    torch.set_flush_denormal(True)
    results, device = {}, "cpu"
    for name, config, weights, *opts in a.model:
        every_opt = [*opts, "MODEL.WEIGHTS", weights]
        cfg = resolve_device(load_config(config, every_opt), every_opt)
        model, device = TextSpotterTrainer.build_model(cfg), cfg.MODEL.DEVICE
        load_strict(model, weights, f"--model {name}'s weights")
        loader = TextSpotterTrainer.build_test_loader(cfg, a.dataset)
        inputs = (batch[0] for batch in loader)
        results[name] = breakdown(model, itertools.islice(inputs, a.images + a.warmup),
                                  a.warmup)
        print(f"{name}: {results[name]['total']:.1f} ms / image", file=sys.stderr, flush=True)
    return report(f"{a.dataset}, {a.images} images, batch 1", device, table(results))


if __name__ == "__main__":
    main()
