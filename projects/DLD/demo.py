#!/usr/bin/env python
"""Spot text in images with ``TextPredictor``: draws the words and writes them as JSON.

    python projects/DLD/demo.py --config-file configs/synth/teacher_tiny.yaml \
        --input "datasets/synth/val/*.jpg" --output output/demo \
        --opts MODEL.WEIGHTS output/teacher_tiny/model_final.pth

``--input`` takes image files, folders and globs. The output folder receives one drawing per
image and, once every image is done, ``predictions.json`` (a list of prediction records, the
format that the evaluator reads; see dld_spotter/evaluation/README.md). Every file is written
atomically. A run that stops early (an unreadable image, Ctrl-C, SIGTERM) leaves the previous
``predictions.json`` as it was and writes what it spotted to ``predictions_partial.json``; an
empty result never replaces a non-empty one. ``--skip-bad-images`` goes on past unreadable
images, lists them at the end and exits with status 1. MODEL.WEIGHTS must be the trained
checkpoint of the config (``--allow-partial`` loads what fits).
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
from typing import List

import cv2
import numpy as np
import torch
import tqdm
from detectron2.utils.logger import setup_logger

from dld_spotter.config import load_config, resolve_device
from dld_spotter.data.mapper import read_image_or_explain
from dld_spotter.engine import TextPredictor
from dld_spotter.engine.signals import sigterm_raises
from dld_spotter.evaluation import instances_to_records
from dld_spotter.files import atomic_write

logger = logging.getLogger("dld_spotter.demo")

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


def write_image(path: str, image: np.ndarray) -> None:
    """``cv2.imwrite``, atomically; an error if OpenCV cannot encode ``image``."""
    ok, encoded = cv2.imencode(os.path.splitext(path)[1], image)
    if not ok:
        raise OSError(f"OpenCV cannot encode an image of shape {image.shape} as {path}")
    with atomic_write(path, "wb") as f:
        f.write(encoded.tobytes())


def write_records(path: str, records: List[dict]) -> bool:
    """Write ``records`` to the JSON file ``path`` atomically, unless they are empty and
    ``path`` holds records; whether it was written."""
    if not records and os.path.isfile(path):
        try:
            with open(path) as f:
                previous = json.load(f)
        except (OSError, ValueError):
            previous = None
        if previous:
            logger.warning(f"no words spotted: {path} keeps the {len(previous)} records of an "
                           "earlier run")
            return False
    with atomic_write(path) as f:
        json.dump(records, f, indent=1)
    return True


def main(argv: List[str] | None = None) -> List[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config-file", required=True, metavar="FILE")
    parser.add_argument("--input", nargs="+", required=True, help="image files, folders, globs")
    parser.add_argument("--output", default="output/demo", help="folder for drawings and JSON")
    parser.add_argument("--skip-bad-images", action="store_true",
                        help="warn about unreadable images and go on; list them at the end "
                        "and exit with status 1")
    parser.add_argument("--allow-partial", action="store_true",
                        help="load MODEL.WEIGHTS even if it does not fit the model")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[],
                        help="config overrides, e.g. MODEL.WEIGHTS path/to/model.pth")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)  # tiny activations (e.g. fresh BN in eval) stay fast on CPU

    cfg = resolve_device(load_config(args.config_file, args.opts), args.opts)
    cfg.freeze()
    predictor = TextPredictor(cfg, allow_partial=args.allow_partial)
    paths = expand_inputs(args.input)
    os.makedirs(args.output, exist_ok=True)
    all_records, skipped, finished = [], [], False
    json_path = os.path.join(args.output, "predictions.json")
    try:
        with sigterm_raises():
            for path in tqdm.tqdm(paths, desc="spotting", unit="img", disable=len(paths) < 2):
                try:
                    image = read_image_or_explain(path, "BGR")
                except OSError as e:  # FileNotFoundError included
                    if not args.skip_bad_images:
                        raise
                    logger.warning(f"skipped: {e}")
                    skipped.append(path)
                    continue
                instances = predictor(image)["instances"].to("cpu")
                records = instances_to_records(instances, file_name=path)
                all_records += records
                out_name = os.path.splitext(os.path.basename(path))[0] + "_spotted.jpg"
                write_image(os.path.join(args.output, out_name), draw_records(image, records))
        finished = True
    finally:  # a run that stops early keeps what it spotted apart from a finished run's
        if finished:
            write_records(json_path, all_records)
        elif all_records:
            partial = os.path.join(args.output, "predictions_partial.json")
            write_records(partial, all_records)
            logger.warning(f"stopped early: {len(all_records)} words in {partial}; "
                           f"{json_path} is left as it was")
    print(f"{len(all_records)} words in {len(paths) - len(skipped)} image(s); drawings and "
          f"{json_path} are in {args.output}")
    if skipped:
        raise SystemExit(f"{len(skipped)} of {len(paths)} image(s) could not be read and were "
                         "skipped:\n  " + "\n  ".join(skipped))
    return all_records


if __name__ == "__main__":
    setup_logger(name="dld_spotter")
    main()
