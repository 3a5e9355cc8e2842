"""Streams of freshly generated synthetic training data: scenes, and word crops cut from them.

``DATASETS.TRAIN = ("synth_stream",)`` trains on an endless stream of new synthetic scenes
(:class:`SynthSceneStream`) instead of a fixed set of files; ``INPUT.WORD_CROPS.ENABLED`` then
cuts every legible word of each augmented scene into a small canvas (:func:`cut_word_crops`),
the synthetic counterpart of pre-training a recognizer on word images.

Both are deterministic per seed, process rank and loader worker: scene ``i`` of worker ``w``
of rank ``r`` is drawn from ``np.random.default_rng([seed, tag, r, w, i])``, a seed sequence
that no file split of :mod:`dld_spotter.data.synth` uses (those are ``[seed, split, i]``), so
a stream never contains the validation images. A training resumed from iteration ``N > 0``
sets ``start_iter = N`` and every seed sequence ends in ``N`` (``[seed, tag, r, w, i, N]``):
it continues with fresh data instead of replaying the data of iteration 0 onwards, and a run
from iteration 0 keeps the seeds it always had.
"""
from __future__ import annotations

import itertools
import math
import random
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.structures import Boxes, Instances, PolygonMasks
from detectron2.utils import comm
from shapely.geometry import Polygon

from ..charset import IGNORE, Charset
from .synth import (
    SynthConfig,
    contrasting_colour,
    find_fonts,
    generate_image,
    luma,
    render_text,
    sample_word,
)

__all__ = ["STREAM_DATASET", "STREAM_TAGS", "RenderedCropStream", "SynthSceneStream",
           "WordCropStream", "cut_word_crops", "first_crops", "render_word_crop",
           "smallest_text_height", "text_heights"]

STREAM_DATASET = "synth_stream"
# Seed-sequence tags of the streams: training, and the held-out crops of evaluation.
STREAM_TAGS = {"train": 2, "heldout": 3}


def _worker_id() -> int:
    """This loader worker's id (0 outside workers); a worker leaves the other cores to
    training (OpenCV single-threaded)."""
    info = torch.utils.data.get_worker_info()
    if info is None:
        return 0
    cv2.setNumThreads(1)
    return info.id


class _SeededStream(torch.utils.data.IterableDataset):
    """An endless stream of ``seed`` and ``tag`` (``STREAM_TAGS``), resumable from
    ``start_iter``."""

    def __init__(self, seed: int, tag: str):
        if tag not in STREAM_TAGS:
            raise ValueError(f"stream tag must be one of {sorted(STREAM_TAGS)}, got {tag!r}")
        self.seed, self.tag = seed, tag
        self.start_iter = 0  # the iteration a resumed training starts from

    def _key(self, *parts: int) -> List[int]:
        """The seed sequence ``[seed, tag, *parts]``, then ``start_iter`` if it is not 0."""
        key = [self.seed, STREAM_TAGS[self.tag], *parts]
        return key + [self.start_iter] if self.start_iter else key


def text_heights(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """Text height of each (K, 2) polygon, in its own pixels: the short side of the rectangle
    with the polygon's area and perimeter (exact for rectangles of any rotation, close for
    curved bands). ``(N,)``."""
    out = np.zeros(len(polygons))
    for i, pts in enumerate(polygons):
        shape = Polygon(np.asarray(pts, dtype=np.float64).reshape(-1, 2))
        half_perimeter, area = shape.length / 2, shape.area
        out[i] = (half_perimeter - np.sqrt(max(half_perimeter**2 - 4 * area, 0.0))) / 2
    return out


def smallest_text_height(annotations: Sequence[dict]) -> float:
    """Height (:func:`text_heights`) of the smallest word among ``annotations`` (dataset-dict
    or COCO entries, polygon ``segmentation``) that is not ``ignore``d, in their pixels; inf
    if there is none."""
    polygons = [np.asarray(a["segmentation"][0]) for a in annotations if not a.get("ignore")]
    return float(text_heights(polygons).min()) if polygons else math.inf


class SynthSceneStream(_SeededStream):
    """Endless fresh synthetic scenes as detectron2 dataset dicts, the image in memory
    (``"image"``: (H, W, 3) uint8 in ``image_format``) next to the usual ``annotations``."""

    def __init__(self, seed: int, tag: str = "train", image_format: str = "BGR",
                 synth_cfg: Optional[SynthConfig] = None, fonts: Optional[Sequence[str]] = None):
        super().__init__(seed, tag)
        if image_format not in ("BGR", "RGB"):
            raise ValueError(f"the synthetic stream makes BGR or RGB images, not {image_format!r}")
        self.image_format = image_format
        self.synth_cfg = synth_cfg or SynthConfig()
        self.fonts = tuple(fonts or find_fonts())

    def scene(self, rank: int, worker: int, index: int) -> dict:
        """Scene ``index`` of ``worker`` of process ``rank`` (after ``start_iter``)."""
        rng = np.random.default_rng(self._key(rank, worker, index))
        resumed = f" from iteration {self.start_iter}" if self.start_iter else ""
        name = f"<{STREAM_DATASET} seed {self.seed} {self.tag} {rank}/{worker}/{index}{resumed}>"
        try:
            image, instances = generate_image(rng, self.fonts, self.synth_cfg)
        except Exception as e:  # name the scene, so that it can be regenerated alone
            raise RuntimeError(f"{name}: the synthetic generator failed ({type(e).__name__}: "
                               f"{e}); SynthSceneStream.scene({rank}, {worker}, {index}) "
                               "reproduces it") from e
        if self.image_format == "BGR":
            image = np.ascontiguousarray(image[..., ::-1])
        annotations = []
        for inst in instances:
            (x0, y0), (x1, y1) = inst["polygon"].min(0), inst["polygon"].max(0)
            annotations.append({
                "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                "bbox_mode": 1,  # BoxMode.XYWH_ABS
                "segmentation": [inst["polygon"].reshape(-1).tolist()],
                "category_id": 0, "text": inst["text"], "ignore": int(inst["ignore"]),
            })
        return {"file_name": name, "image_id": name, "height": image.shape[0],
                "width": image.shape[1], "image": image, "annotations": annotations}

    def __iter__(self) -> Iterator[dict]:
        worker = _worker_id()
        rank, index = comm.get_rank(), 0
        while True:
            yield self.scene(rank, worker, index)
            index += 1


def place_box(image: np.ndarray, box: Sequence[float], size: Tuple[int, int], max_scale: float,
              rng: np.random.Generator, margin: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """``image`` (h, w, 3) scaled by at most ``max_scale`` so that ``box`` (x0, y0, x1, y1) fits
    inside a ``size`` = (H, W) canvas less ``margin`` on each side, at a random position there,
    the rest of the canvas replicating the image's border. Returns the canvas (H, W, 3) and the
    2 x 3 affine matrix from image to canvas (a scale and a shift)."""
    h, w = size
    x0, y0, x1, y1 = box
    scale = min(max_scale, w * (1 - 2 * margin) / max(x1 - x0, 1.0),
                h * (1 - 2 * margin) / max(y1 - y0, 1.0))
    bw, bh = (x1 - x0) * scale, (y1 - y0) * scale
    left = rng.uniform(w * margin, max(w * (1 - margin) - bw, w * margin))
    top = rng.uniform(h * margin, max(h * (1 - margin) - bh, h * margin))
    matrix = np.array([[scale, 0, left - scale * x0], [0, scale, top - scale * y0]])
    canvas = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    return canvas, matrix


def cut_word_crops(mapped: dict, size: Tuple[int, int], min_height: float,
                   rng: np.random.Generator, margin: float = 0.1) -> List[dict]:
    """Every readable word of a mapped training scene (``TextDatasetMapper`` output) at least
    ``min_height`` px tall, cut into its own ``size`` = (H, W) canvas with what surrounds it.

    A word keeps its scale unless its box does not fit inside the canvas less ``margin`` on
    each side, where it is shrunk to fit; it sits at a random position inside that margin.
    Each crop is a model input: ``image`` (3, H, W) uint8 and ``instances`` with the word's
    ``gt_boxes``, ``gt_classes``, ``gt_masks``, ``gt_texts`` and ``gt_text_heights``.
    """
    inst: Instances = mapped["instances"]
    if len(inst) == 0:
        return []
    image = mapped["image"].permute(1, 2, 0).numpy()
    heights = inst.gt_text_heights.numpy()
    h, w = size
    crops = []
    for i in np.flatnonzero((inst.gt_texts[:, 0] != IGNORE).numpy() & (heights >= min_height)):
        canvas, matrix = place_box(image, inst.gt_boxes.tensor[i].tolist(), size, 1.0, rng,
                                   margin)
        scale = matrix[0, 0]
        polys = [p.reshape(-1, 2) * scale + matrix[:, 2] for p in inst.gt_masks.polygons[i]]
        pts = np.concatenate(polys)
        box = np.clip(np.concatenate([pts.min(0), pts.max(0)]), 0, [w, h, w, h])
        word = Instances((h, w))
        word.gt_boxes = Boxes(torch.tensor(box[None], dtype=torch.float32))
        word.gt_classes = inst.gt_classes[i:i + 1]
        word.gt_masks = PolygonMasks([[p.reshape(-1) for p in polys]])
        word.gt_texts = inst.gt_texts[i:i + 1]
        word.gt_text_heights = inst.gt_text_heights[i:i + 1] * scale
        crops.append({"image": torch.as_tensor(np.ascontiguousarray(canvas.transpose(2, 0, 1))),
                      "height": h, "width": w, "instances": word})
    return crops


class WordCropStream(torch.utils.data.IterableDataset):
    """Word crops (:func:`cut_word_crops`) of the scenes of ``scenes`` after ``mapper`` (the
    spotter's training augmentation), a few scenes' crops shuffled together."""

    def __init__(self, scenes: SynthSceneStream, mapper: Callable[[dict], dict],
                 size: Tuple[int, int], min_height: float, shuffle_scenes: int = 8):
        self.scenes, self.mapper = scenes, mapper
        self.size, self.min_height = tuple(size), min_height
        self.shuffle_scenes = shuffle_scenes

    @property
    def start_iter(self) -> int:
        """The scenes' ``start_iter``."""
        return self.scenes.start_iter

    @start_iter.setter
    def start_iter(self, value: int) -> None:
        self.scenes.start_iter = value

    def __iter__(self) -> Iterator[dict]:
        worker = _worker_id()
        seed = self.scenes._key(comm.get_rank(), worker)
        # The augmentations draw from the global generators: seed them per rank and worker.
        global_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
        np.random.seed(global_seed)
        random.seed(global_seed)
        torch.manual_seed(global_seed)
        rng = np.random.default_rng(seed)
        buffer: List[dict] = []
        for scene in self.scenes:
            buffer.extend(cut_word_crops(self.mapper(scene), self.size, self.min_height, rng))
            if len(buffer) >= 8 * self.shuffle_scenes:
                for j in rng.permutation(len(buffer)):
                    yield buffer[j]
                buffer = []


def render_word_crop(rng: np.random.Generator, fonts: Sequence[str], size: Tuple[int, int],
                     random_string_prob: float, ink: str = "random") -> Tuple[np.ndarray, str]:
    """One random word in a random font, upright, filling a ``size`` = (H, W) crop: (H, W, 3)
    uint8 RGB and the word. ``ink``: ``"random"`` colours with the synthetic set's luma
    contrast (ink at least 90 off a random background), ``"white"`` on black, or ``"grey"``:
    white on black or black on white."""
    word = sample_word(rng, random_string_prob)
    mask, (x0, y0, x1, y1) = render_text(word, fonts[rng.integers(len(fonts))], ink_height=48.0)
    pad = 4
    mask = mask[max(int(y0) - pad, 0):int(y1) + pad, max(int(x0) - pad, 0):int(x1) + pad]
    alpha = cv2.resize(mask, size[::-1], interpolation=cv2.INTER_LINEAR)[..., None] / 255.0
    if ink == "random":
        bg = rng.uniform(0, 255, 3)
        fg = contrasting_colour(rng, float(luma(bg)))
    elif ink in ("white", "grey"):
        white = ink == "white" or rng.random() < 0.5
        fg, bg = np.full(3, 255.0 if white else 0.0), np.full(3, 0.0 if white else 255.0)
    else:
        raise ValueError(f"ink must be 'random', 'white' or 'grey', got {ink!r}")
    return np.clip(alpha * fg + (1 - alpha) * bg + 0.5, 0, 255).astype(np.uint8), word


class RenderedCropStream(_SeededStream):
    """Endless upright word crops (:func:`render_word_crop`, the synthetic set's fonts, words
    and colours on plain backgrounds) as model inputs whose one instance is the whole crop:
    the easiest reading task, where a from-scratch attention decoder first learns to align.
    Deterministic per seed, tag, rank and worker like :class:`SynthSceneStream`."""

    def __init__(self, seed: int, tag: str, charset: Charset, size: Tuple[int, int],
                 image_format: str = "BGR", random_string_prob: float = 0.5,
                 fonts: Optional[Sequence[str]] = None):
        super().__init__(seed, tag)
        self.charset, self.size = charset, tuple(size)
        self.image_format, self.random_string_prob = image_format, random_string_prob
        self.fonts = tuple(fonts or find_fonts())

    def __iter__(self) -> Iterator[dict]:
        worker = _worker_id()
        rng = np.random.default_rng(self._key(comm.get_rank(), worker))
        h, w = self.size
        box = torch.tensor([[0.0, 0.0, w, h]])
        rect = np.array([0, 0, w, 0, w, h, 0, h], dtype=np.float64)
        while True:
            image, word = render_word_crop(rng, self.fonts, self.size, self.random_string_prob)
            texts, _ = self.charset.encode_batch([word])
            if texts[0, 0] == IGNORE:
                continue
            if self.image_format == "BGR":
                image = image[..., ::-1]
            crop = Instances((h, w))
            crop.gt_boxes = Boxes(box.clone())
            crop.gt_classes = torch.zeros(1, dtype=torch.long)
            crop.gt_masks = PolygonMasks([[rect]])
            crop.gt_texts = texts
            crop.gt_text_heights = torch.tensor([float(h)])
            yield {"image": torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1))),
                   "height": h, "width": w, "instances": crop}


def first_crops(stream: WordCropStream, num: int) -> List[dict]:
    """The first ``num`` crops of ``stream`` in this process (a fixed held-out set); the
    global random generators are left as they were."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        return list(itertools.islice(stream, num))
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])

