#!/usr/bin/env python
"""Spot text in images with ``TextPredictor``: draws the words and writes them as JSON.

    python projects/DLD/demo.py --config-file configs/synth/teacher_tiny.yaml \
        --input "datasets/synth/val/*.jpg" --output output/demo \
        --opts MODEL.WEIGHTS output/teacher_tiny/model_final.pth

``--input`` takes image files, folders and globs; a folder (not searched recursively) or a
glob gives its files of the types the data loaders read (``dld_spotter.data.image_io``:
.jpg .jpeg .png .gif .bmp .tif .tiff .webp; 16-bit greyscale is scaled to 8 bits), and what
it passes over (other files, folders) is listed. The output folder receives one drawing per
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
from typing import List, Tuple

import cv2
import numpy as np
import torch
import tqdm
from detectron2.utils.logger import setup_logger

from dld_spotter.config import load_config, resolve_device
from dld_spotter.data.image_io import IMAGE_EXTENSIONS, is_image_name, read_image
from dld_spotter.engine import TextPredictor
from dld_spotter.engine.signals import sigterm_raises
from dld_spotter.evaluation import instances_to_records
from dld_spotter.files import atomic_write

logger = logging.getLogger("dld_spotter.demo")

_SHOWN_SKIPPED = 10  # passed-over paths listed by name


def _pass_over(path: str) -> str:
    """Why ``path``, found in a folder or by a glob, is not read."""
    if os.path.isdir(path):
        return f"{path}: is a directory (folders are not searched recursively)"
    return f"{path}: not an image ({' '.join(IMAGE_EXTENSIONS)})"


def expand_inputs(inputs: List[str]) -> Tuple[List[str], List[str]]:
    """The image paths named by files, folders and globs, in order, and the paths that a folder
    or a glob held but that are no images (``"path: why"``: another file type, a directory,
    e.g. one named ``x.jpg``); an error if there is no image. Hidden files of a folder are
    passed over silently."""
    paths, skipped = [], []
    for item in inputs:
        if os.path.isdir(item):
            found = [os.path.join(item, f) for f in sorted(os.listdir(item))
                     if not f.startswith(".")]
        elif os.path.isfile(item):
            paths.append(item)
            continue
        else:
            found = sorted(glob.glob(os.path.expanduser(item)))
            if not found:
                raise FileNotFoundError(f"--input {item!r}: no such file, folder or glob match")
        for path in found:
            if is_image_name(path) and not os.path.isdir(path):
                paths.append(path)
            else:
                skipped.append(_pass_over(path))
    if not paths:
        passed = f"; passed over: {'; '.join(skipped[:_SHOWN_SKIPPED])}" if skipped else ""
        raise FileNotFoundError(f"--input {inputs}: no images ({' '.join(IMAGE_EXTENSIONS)})"
                                f"{passed}")
    return paths, skipped


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
    paths, passed_over = expand_inputs(args.input)
    if passed_over:
        more = f"\n  ... and {len(passed_over) - _SHOWN_SKIPPED} more" if len(
            passed_over) > _SHOWN_SKIPPED else ""
        logger.warning(f"--input: passed over {len(passed_over)} path(s) that are no images:\n  "
                       + "\n  ".join(passed_over[:_SHOWN_SKIPPED]) + more)
    os.makedirs(args.output, exist_ok=True)
    all_records, skipped, finished = [], [], False
    json_path = os.path.join(args.output, "predictions.json")
    try:
        with sigterm_raises():
            for path in tqdm.tqdm(paths, desc="spotting", unit="img", disable=len(paths) < 2):
                try:
                    image = read_image(path, "BGR")
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
          f"{json_path} are in {args.output}"
          + (f"; {len(passed_over)} path(s) that are no images passed over (listed above)"
             if passed_over else ""))
    if skipped:
        raise SystemExit(f"{len(skipped)} of {len(paths)} image(s) could not be read and were "
                         "skipped:\n  " + "\n  ".join(skipped))
    return all_records


if __name__ == "__main__":
    setup_logger(name="dld_spotter")
    main()
