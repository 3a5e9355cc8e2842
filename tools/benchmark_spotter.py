#!/usr/bin/env python
"""Speed and memory of the base spotter: training iterations/s, inference images/s and peak
memory for several configs at their base resolutions, measured side by side in one run.

    .venv/bin/python tools/benchmark_spotter.py          # tiny + the three R-50 teachers
    .venv/bin/python tools/benchmark_spotter.py --configs configs/synth/teacher_tiny.yaml
    python tools/benchmark_spotter.py --device cuda --batch 4   # on a GPU

Each config runs in its own process, so that its peak memory is its own. Training batches are
synthetic images (generated into a temporary folder) resized to the config's base resolution
(no random down-scaling), with the config's batch size capped by ``--batch``; inference runs
``DefaultPredictor`` on images at that resolution. Untrained weights: the number of detections
(and so the recognition cost) of a trained model differs. Peak memory is the process's resident
set on CPU and the largest allocation of PyTorch's caching allocator on CUDA.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

DEFAULT_CONFIGS = [
    "configs/synth/teacher_tiny.yaml",
    "configs/teacher/ic13_R50_FPN.yaml",
    "configs/teacher/totaltext_R50_FPN.yaml",
    "configs/teacher/ic15_R50_FPN.yaml",
]


def measure(config: str, data_dir: str, train_iters: int, infer_images: int, batch: int,
            warmup: int, device: str = "cpu") -> Dict:
    """Run in a child process: time training steps and predictor calls for one config."""
    import cv2
    import torch
    from detectron2.engine import DefaultPredictor
    from detectron2.utils.events import EventStorage

    from dld_spotter.config import load_config
    from dld_spotter.data import load_text_json
    from dld_spotter.data.mapper import TextDatasetMapper
    from dld_spotter.engine import TextSpotterTrainer

    cfg = load_config(config, ["INPUT.TEXT_AUG.SCALE_RANGE", "(1.0, 1.0)", "MODEL.WEIGHTS", "",
                               "INPUT.TEXT_AUG.CROP_PROB", "0.0", "MODEL.DEVICE", device])
    on_cuda = torch.device(device).type == "cuda"

    def clock() -> float:  # CUDA runs asynchronously: wait for the queued kernels first
        if on_cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    base = cfg.INPUT.MIN_SIZE_TRAIN[-1]
    dicts = load_text_json(os.path.join(data_dir, "train.json"), os.path.join(data_dir, "train"))
    mapper = TextDatasetMapper(cfg, is_train=True)
    batch = min(batch, cfg.SOLVER.IMS_PER_BATCH)
    batches = [[mapper(dicts[(i * batch + j) % len(dicts)]) for j in range(batch)]
               for i in range(warmup + train_iters)]

    torch.manual_seed(0)
    model = TextSpotterTrainer.build_model(cfg).train()
    optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
    times = []
    with EventStorage():
        for i, b in enumerate(batches):
            start = clock()
            loss = sum(model(b).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if i >= warmup:
                times.append(clock() - start)
    train_step = statistics.median(times)

    predictor = DefaultPredictor(cfg)
    predictor.model.load_state_dict(model.state_dict())
    images = [cv2.imread(d["file_name"]) for d in dicts[:infer_images + warmup]]
    scale = base / min(images[0].shape[:2])
    images = [cv2.resize(im, None, fx=scale, fy=scale) for im in images]
    times = []
    for i, image in enumerate(images):
        start = clock()
        predictor(image)
        if i >= warmup:
            times.append(clock() - start)
    infer = statistics.median(times)
    params = sum(p.numel() for p in model.parameters())
    return {
        "config": config,
        "resolution": f"S-{base}",
        "batch": batch,
        "params_M": params / 1e6,
        "train_it_per_s": 1.0 / train_step,
        "train_img_per_s": batch / train_step,
        "infer_img_per_s": 1.0 / infer,
        "peak_mem_GiB": (torch.cuda.max_memory_allocated() / 2**30 if on_cuda
                         else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20),
        "device": device,
    }


def make_data(root: str) -> str:
    from dld_spotter.data.synth import generate_dataset

    generate_dataset(root, num_train=12, num_val=1, seed=0, workers=1)
    return root


def to_markdown(rows: List[Dict]) -> str:
    head = ("| config | device | resolution | params (M) | batch | train it/s | train img/s | "
            "infer img/s | peak memory (GiB) |\n|---|---|---|---|---|---|---|---|---|\n")
    return head + "\n".join(
        f"| `{r['config']}` | {r['device']} | {r['resolution']} | {r['params_M']:.1f} | "
        f"{r['batch']} | "
        f"{r['train_it_per_s']:.3f} | {r['train_img_per_s']:.3f} | {r['infer_img_per_s']:.3f} | "
        f"{r['peak_mem_GiB']:.2f} |"
        for r in rows
    )


def main(argv: List[str] | None = None) -> List[Dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    parser.add_argument("--train-iters", type=int, default=3, help="timed training steps")
    parser.add_argument("--infer-images", type=int, default=5, help="timed predictor calls")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--batch", type=int, default=2, help="cap on images per training step")
    parser.add_argument("--device", default="cpu", help="MODEL.DEVICE: cpu, cuda, cuda:1, ...")
    parser.add_argument("--out", default="", help="also write the table (.md) and rows (.json)")
    parser.add_argument("--single", default="", help=argparse.SUPPRESS)
    parser.add_argument("--data", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.single:  # child process
        row = measure(args.single, args.data, args.train_iters, args.infer_images, args.batch,
                      args.warmup, args.device)
        print("BENCH_ROW " + json.dumps(row))
        return [row]

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = make_data(tmp)
        for i, config in enumerate(args.configs, 1):
            print(f"[{i}/{len(args.configs)}] {config} ...", flush=True)
            cmd = [sys.executable, os.path.abspath(__file__), "--single", config, "--data", data,
                   "--train-iters", str(args.train_iters), "--infer-images",
                   str(args.infer_images), "--warmup", str(args.warmup), "--batch",
                   str(args.batch), "--device", args.device]
            done = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_ROW ")]
            if done.returncode != 0 or not lines:
                print(done.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"benchmark of {config} failed (exit {done.returncode})")
            rows.append(json.loads(lines[-1][len("BENCH_ROW "):]))
    table = to_markdown(rows)
    print(table)
    if args.out:
        base = os.path.splitext(args.out)[0]
        os.makedirs(os.path.dirname(base) or ".", exist_ok=True)
        with open(base + ".md", "w") as f:
            f.write(table + "\n")
        with open(base + ".json", "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
