"""Helpers shared by the test files (as detectron2/utils/testing.py is for detectron2's tests).

Test files import from here, never from one another; a helper used by one file only stays in
that file, and pytest fixtures shared across files are in conftest.py.

- paths and scripts: ``REPO``, ``TEACHER_TINY``, ``FIXTURES``, ``load_tool`` (a ``tools/``
  script as a module), ``run_train_net`` (projects/DLD/train_net.py in a subprocess);
- the tiny configuration: ``TINY_OPTS``, ``tiny_opts``, ``training_batches``,
  ``with_synth_root`` (the built-in synth names, for subprocesses), ``CROP_OPTS`` and
  ``pretrain_cfg`` (recognition pre-training on the synthetic stream);
- logging: ``logged``, ``messages``;
- evaluation: ``rect``, ``polygon_iou``, ``arc_band``, ``rasterize``, ``bbox_xywh``,
  ``make_instances`` (a model's output), ``record`` (a prediction record), ``assert_prh``.
"""
import contextlib
import importlib.util
import logging
import os
import subprocess
import sys
from types import ModuleType

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.structures import Boxes, BoxMode, Instances

from dld_spotter.config import load_config
from dld_spotter.data.mapper import TextDatasetMapper
from dld_spotter.evaluation import to_geometry

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEACHER_TINY = os.path.join(REPO, "configs/synth/teacher_tiny.yaml")
FIXTURES = os.path.join(REPO, "tests", "fixtures")  # a few images of each benchmark's format


# --- scripts ----------------------------------------------------------------------------------


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as module ``name``, registered in ``sys.modules`` (dataclasses and
    pickling look their module up there)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_train_net(*args, timeout=600):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, os.path.join(REPO, "projects/DLD/train_net.py"), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)


# --- the tiny configuration -------------------------------------------------------------------

TINY_OPTS = [
    "MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "",
    "INPUT.MIN_SIZE_TRAIN", "(160,)", "INPUT.MAX_SIZE_TRAIN", "224",
    "INPUT.MIN_SIZE_TEST", "160", "INPUT.MAX_SIZE_TEST", "224",
    "MODEL.LIGHT_NET.STAGE_CHANNELS", "(16, 32, 48, 64)", "MODEL.LIGHT_NET.STEM_CHANNELS", "16",
    "MODEL.FPN.OUT_CHANNELS", "32", "MODEL.REC_HEAD.CONV_DIM", "32",
    "MODEL.REC_HEAD.LSTM_HIDDEN", "32", "MODEL.REC_HEAD.ATTENTION_DIM", "32",
    "MODEL.ROI_BOX_HEAD.FC_DIM", "64", "MODEL.ROI_MASK_HEAD.CONV_DIM", "32",
    "SOLVER.IMS_PER_BATCH", "2", "SOLVER.WARMUP_ITERS", "0", "SOLVER.STEPS", "()",
    "DATALOADER.NUM_WORKERS", "0", "SEED", "0",
]


def tiny_opts(synth_dataset, output_dir, *extra):
    train, val, _ = synth_dataset
    return TINY_OPTS + ["DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", f"('{val}',)",
                        "OUTPUT_DIR", str(output_dir), *extra]


def training_batches(cfg, n):
    mapper = TextDatasetMapper(cfg, is_train=True)
    dicts = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])
    return [[mapper(dicts[(2 * i + j) % len(dicts)]) for j in range(2)] for i in range(n)]


def with_synth_root(opts, root):
    """Use the built-in synth_train/synth_val names, found under DLD_DATASETS=<root>/.."""
    os.environ["DLD_DATASETS"] = os.path.dirname(root)
    link = os.path.join(os.path.dirname(root), "synth")
    if not os.path.exists(link):
        os.symlink(root, link)
    out = list(opts)
    out[out.index("DATASETS.TRAIN") + 1] = "('synth_train',)"
    out[out.index("DATASETS.TEST") + 1] = "('synth_val',)"
    return out


CROP_OPTS = TINY_OPTS + ["DATASETS.TRAIN", "('synth_stream',)", "DATASETS.TEST", "()",
                         "INPUT.WORD_CROPS.ENABLED", "True", "INPUT.WORD_CROPS.SIZE", "(32, 128)",
                         "SOLVER.IMS_PER_BATCH", "8"]


def pretrain_cfg(*extra):
    return load_config(os.path.join(REPO, "configs/synth/pretrain_tiny.yaml"),
                       CROP_OPTS + list(extra))


# --- logging ----------------------------------------------------------------------------------


@contextlib.contextmanager
def logged(name):
    """The messages that logger ``name`` emits in the block (whatever its propagation)."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger(name)
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def messages(records):
    return "\n".join(r.getMessage() for r in records)


# --- evaluation -------------------------------------------------------------------------------


def rect(x1, y1, x2, y2):
    """Axis-aligned rectangle as a clockwise flat polygon."""
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def polygon_iou(a, b):
    """Intersection over union of two polygons (0 when both have zero area)."""
    a, b = to_geometry(a), to_geometry(b)
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def arc_band(degrees_end, points=7, radius=10.0, center=(50.0, 50.0)):
    """Polygon of a ring sector (radii ``radius`` and ``2 * radius``, angles 0..degrees_end),
    2 x ``points`` points, as for curved text."""
    angles = np.radians(np.linspace(0.0, degrees_end, points))
    ring = np.stack([np.cos(angles), -np.sin(angles)], axis=1)
    outer = np.asarray(center) + 2 * radius * ring
    inner = (np.asarray(center) + radius * ring)[::-1]
    return np.concatenate([outer, inner]).ravel().tolist()


def rasterize(polygon, height, width):
    """(H, W) bool mask of the pixels whose centre (j + 0.5, i + 0.5) is inside ``polygon``."""
    mask = np.zeros((height, width), dtype=np.uint8)
    points = np.round((np.asarray(polygon).reshape(-1, 2) - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(mask, [points], 1, shift=4)
    return mask.astype(bool)


def bbox_xywh(polygon):
    xs, ys = polygon[0::2], polygon[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def make_instances(height, width, polygons, texts, text_scores, with_masks=True):
    n = len(polygons)
    instances = Instances((height, width))
    boxes = [BoxMode.convert(bbox_xywh(p), BoxMode.XYWH_ABS, BoxMode.XYXY_ABS) for p in polygons]
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(n, 4))
    instances.scores = torch.linspace(0.9, 0.5, n)
    instances.pred_classes = torch.zeros(n, dtype=torch.long)
    if with_masks:
        masks = [rasterize(p, height, width) for p in polygons]
        instances.pred_masks = torch.from_numpy(np.stack(masks).reshape(n, height, width))
    instances.pred_texts = list(texts)
    instances.text_scores = torch.tensor(text_scores, dtype=torch.float32)
    return instances


def record(image_id, polygon, text, file_name=None, text_score=1.0):
    return {"image_id": image_id, "file_name": file_name, "polygon": polygon, "score": 0.9,
            "text": text, "text_score": text_score}


def assert_prh(metrics, precision, recall, hmean):
    assert metrics["precision"] == pytest.approx(precision)
    assert metrics["recall"] == pytest.approx(recall)
    assert metrics["hmean"] == pytest.approx(hmean)
