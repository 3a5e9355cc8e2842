#!/usr/bin/env python
"""Spot text in images with ``DefaultPredictor``: draws the words and writes them as JSON.

    python projects/DLD/demo.py --config-file configs/synth/teacher_tiny.yaml \
        --input "datasets/synth/val/*.jpg" --output output/demo \
        --opts MODEL.WEIGHTS output/teacher_tiny/model_final.pth

``--input`` takes image files, folders and globs. The output folder receives one drawing per
image and ``predictions.json`` (a list of prediction records, the format that the evaluator
reads; see dld_spotter/evaluation/README.md).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
from typing import List

import cv2
import numpy as np
import torch
import tqdm
from detectron2.engine import DefaultPredictor

from dld_spotter.config import load_config
from dld_spotter.data.mapper import read_image_or_explain
from dld_spotter.evaluation import instances_to_records

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def expand_inputs(inputs: List[str]) -> List[str]:
    """Image paths named by files, folders and globs, sorted; an error if none."""
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            paths += [os.path.join(item, f) for f in sorted(os.listdir(item))
                      if f.lower().endswith(IMAGE_EXTENSIONS)]
        elif os.path.isfile(item):
            paths.append(item)
        else:
            matches = sorted(glob.glob(os.path.expanduser(item)))
            if not matches:
                raise FileNotFoundError(f"--input {item!r}: no such file, folder or glob match")
            paths += [p for p in matches if p.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        raise FileNotFoundError(f"--input {inputs}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    return paths


def draw_records(image: np.ndarray, records: List[dict]) -> np.ndarray:
    """BGR image with each word's polygon and text drawn on it."""
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 500))
    for r in records:
        pts = np.asarray(r["polygon"], dtype=np.float32).reshape(-1, 2).round().astype(np.int32)
        cv2.polylines(canvas, [pts], isClosed=True, color=(0, 220, 0), thickness=thickness)
        label = r["text"] or "?"
        x, y = int(pts[:, 0].min()), int(pts[:, 1].min())
        scale = 0.4 * thickness
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        y = max(y, h + 2)
        cv2.rectangle(canvas, (x, y - h - 2), (x + w, y + 1), (0, 0, 0), -1)
        cv2.putText(canvas, label, (x, y - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255),
                    thickness, cv2.LINE_AA)
    return canvas


def main(argv: List[str] | None = None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--input", nargs="+", required=True, help="image files, folders, globs")
    parser.add_argument("--output", default="output/demo", help="folder for drawings and JSON")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="config overrides, e.g. MODEL.WEIGHTS path/to/model.pth")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)  # tiny activations (e.g. fresh BN in eval) stay fast on CPU

    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    predictor = DefaultPredictor(cfg)
    paths = expand_inputs(args.input)
    os.makedirs(args.output, exist_ok=True)
    all_records = []
    json_path = os.path.join(args.output, "predictions.json")
    try:
        for path in tqdm.tqdm(paths, desc="spotting", unit="img", disable=len(paths) < 2):
            image = read_image_or_explain(path, "BGR")
            instances = predictor(image)["instances"].to("cpu")
            records = instances_to_records(instances, file_name=path)
            all_records += records
            out_name = os.path.splitext(os.path.basename(path))[0] + "_spotted.jpg"
            cv2.imwrite(os.path.join(args.output, out_name), draw_records(image, records))
    finally:  # what was spotted is written even if the run is interrupted
        with open(json_path, "w") as f:
            json.dump(all_records, f, indent=1)
    print(f"{len(all_records)} words in {len(paths)} image(s); drawings and {json_path} "
          f"are in {args.output}")
    return all_records


if __name__ == "__main__":
    main()
