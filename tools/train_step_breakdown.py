#!/usr/bin/env python
"""Where a training step's time goes: seconds per iteration in each part of the step of
several configs, measured side by side in one run on the same training batches.

    .venv/bin/python tools/train_step_breakdown.py \\
        --model SKD-only configs/synth/dld_tiny_skd_only.yaml \\
        --model "DLD float32" configs/synth/dld_tiny.yaml MODEL.DLD.DRS.ACC_DTYPE float32 \\
        --model "DLD bfloat16" configs/synth/dld_tiny.yaml

A model is ``NAME CONFIG [KEY VALUE ...]``, built as its training run starts
(``MODEL.WEIGHTS``, the selector start, the teacher, the FLOPs table) and trained with its
optimizer for ``--iters`` steps after ``--warmup``. The parts: the teacher's pass, the
selector, the student at every scale (the no-graph pass that gives ``L_acc`` its ``y_si``),
the rest of the forward (the student at its scale: detection, recognition, SKD losses), the
backward and the optimizer step. A DLD student trains at the scales that its selector samples,
so its own forward and backward also grow with the scales it chooses.
"""
from __future__ import annotations

import argparse
import itertools
import sys
from collections import defaultdict

import torch
from torch import nn

# (part, path of the object under the model, attribute whose calls it times)
PARTS = [
    *[("teacher", "teacher", m) for m in ("extract_features", "recognition_features")],
    *[("teacher", "teacher.text_recognizer", m)
      for m in ("encode", "teacher_forced", "beam_search")],
    ("selector", "selector", "thumbnails"),
    ("selector", "selector", "forward"),
    ("student at every scale", "", "_probs_at_every_scale"),
]
TIMED = list(dict.fromkeys(part for part, _, _ in PARTS))
ROWS = [*TIMED, "rest of the forward", "backward", "optimizer step"]


def breakdown(model: nn.Module, optimizer: torch.optim.Optimizer, batches: list[list[dict]],
              warmup: int = 2) -> dict[str, float]:
    """Mean seconds per training step of each part of ``ROWS`` and their ``"total"``, over
    ``batches`` after the first ``warmup`` (run, not counted)."""
    from detectron2.utils.events import EventStorage

    from dld_spotter.evaluation.breakdown import time_stages
    from dld_spotter.evaluation.cost import clock

    if len(batches) <= warmup:
        raise ValueError(f"breakdown: no batch after the {warmup} warm-up batches")
    seconds: dict[str, float] = defaultdict(float)
    time_stages(model, seconds, PARTS)
    cuda = next(model.parameters()).device.type == "cuda"
    model.train()
    with EventStorage(0):
        for i, batch in enumerate(batches):
            if i == warmup:
                seconds.clear()
            start = clock(cuda)
            losses = model(batch)
            forward = clock(cuda)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            backward = clock(cuda)
            optimizer.step()
            seconds["forward"] += forward - start
            seconds["backward"] += backward - forward
            seconds["optimizer step"] += clock(cuda) - backward
    mean = {part: s / (len(batches) - warmup) for part, s in seconds.items()}
    forward = mean.pop("forward")
    mean["rest of the forward"] = forward - sum(mean.get(part, 0.0) for part in TIMED)
    mean["total"] = forward + mean["backward"] + mean["optimizer step"]
    return mean


def table(results: dict[str, dict[str, float]]) -> str:
    """A Markdown table: a row per part, a column of s / iteration per model; the total and
    its ratio to the first model's last."""
    from dld_spotter.evaluation.breakdown import stage_table

    first = next(iter(results))
    lines = stage_table(results, ROWS, "part (s / iteration)", 3)
    lines.append(f"| × {first} | " + " | ".join(
        f"{r['total'] / results[first]['total']:.2f}" for r in results.values()) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=25, help="steps timed per model")
    parser.add_argument("--warmup", type=int, default=2)

    from detectron2.utils.env import seed_all_rng

    from dld_spotter.config import load_config, resolve_device
    from dld_spotter.engine import TextSpotterTrainer
    from dld_spotter.engine.trainer import build_training_model
    from dld_spotter.evaluation.breakdown import parse_model_specs, report

    a = parse_model_specs(parser, argv, ("NAME", "CONFIG"))

    results, batches, cfg = {}, None, None
    for name, config, *opts in a.model:
        cfg = resolve_device(load_config(config, opts), opts)
        seed_all_rng(cfg.SEED if cfg.SEED >= 0 else 0)
        model = build_training_model(cfg)
        if batches is None:  # the first model's batches, for every model
            loader = TextSpotterTrainer.build_train_loader(cfg)
            batches = list(itertools.islice(iter(loader), a.iters + a.warmup))
        optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
        results[name] = breakdown(model, optimizer, batches, a.warmup)
        print(f"{name}: {results[name]['total']:.3f} s / iteration", file=sys.stderr,
              flush=True)
    return report(f"{a.iters} training steps of {cfg.SOLVER.IMS_PER_BATCH} images, after "
                  f"{a.warmup} warm-up steps", cfg.MODEL.DEVICE, table(results))


if __name__ == "__main__":
    main()
