#!/usr/bin/env python
"""Ship a trained checkpoint with the package: fp16 weights plus their provenance.

    .venv/bin/python tools/ship_weights.py output/teacher_tiny/model_final.pth \
        --config synth/teacher_tiny.yaml --command "bash scripts/train_teacher.sh" \
        --metrics output/teacher_tiny/inference/synth_val/{text_results,model_metrics}.json

Writes ``dld_spotter/model_zoo/weights/<name>.pth`` (the name of ``model_zoo.TRAINED``) after
checking that the checkpoint loads strictly into the config's model; the provenance (command,
commit, iterations, wall time, machine, metrics) is stored inside the file and printed as the
row of ``MODEL_ZOO.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from typing import Sequence

import torch
from detectron2.modeling import build_model

from dld_spotter import model_zoo


def training_facts(output_dir: str) -> dict:
    """Iterations and wall time of the run in ``output_dir`` (its ``metrics.json``)."""
    path = os.path.join(output_dir, "metrics.json")
    if not os.path.isfile(path):
        return {}
    rows = [json.loads(line) for line in open(path) if line.strip()]
    rows = [r for r in rows if "iteration" in r and "time" in r]
    if not rows:
        return {}
    return {"iterations": rows[-1]["iteration"] + 1,
            "seconds_per_iteration": sum(r["time"] for r in rows) / len(rows)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--config", default="synth/teacher_tiny.yaml",
                        help="model-zoo config name (relative to configs/)")
    parser.add_argument("--command", required=True, help="the command that trained it")
    parser.add_argument("--metrics", nargs="*", default=[],
                        help="JSON files of its evaluation (text_results.json, ...)")
    parser.add_argument("--wall-time", type=float, default=0.0, help="seconds, all stages")
    parser.add_argument("--data", nargs="*", default=[],
                        help="every data source it was trained on (where it came from)")
    args = parser.parse_args(argv)

    cfg = model_zoo.get_config(args.config, opts=["MODEL.DEVICE", "cpu"])
    model = model_zoo.load_weights(build_model(cfg), args.checkpoint)
    provenance = {
        "config": args.config, "command": args.command, "commit": model_zoo.source_commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}",
        "wall_time_s": args.wall_time,
        **({"data": args.data} if args.data else {}),
        **training_facts(os.path.dirname(os.path.abspath(args.checkpoint))),
    }
    for path in args.metrics:
        with open(path) as f:
            provenance.setdefault("metrics", {}).update(json.load(f))
    target = os.path.join(os.path.dirname(model_zoo.__file__), "weights",
                          model_zoo.TRAINED[args.config])
    model_zoo.save_weights(model, target, provenance)
    print(f"{target}: {os.path.getsize(target) / 2**20:.1f} MiB")
    print(json.dumps(provenance, indent=1))


if __name__ == "__main__":
    main()
