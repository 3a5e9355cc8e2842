"""Real word images as a recognizer's training source, mixed with the synthetic crops.

A *word-crop folder* holds word images and a ``gt.txt`` with one ``<file>, "<text>"`` line per
image, the layout of the ICDAR 2013/2015 word-recognition sets (e.g. IC15's
``WordRecognition/TrainingSet``: 4 468 crops of the training photographs). An optional
``coords.txt`` (``<file>,x1,y1,...,x4,y4``) gives the word's quadrilateral inside its image;
without it the word fills the image.

:class:`FolderCropStream` places each crop, scaled and photometrically jittered, into the
canvas of ``INPUT.WORD_CROPS.SIZE`` (the surroundings replicated from the crop's border, as
:func:`~dld_spotter.data.stream.cut_word_crops` does at a scene's edge), with the word's box
and mask: the same model input as a synthetic crop. :class:`MixedCropStream` interleaves
several crop streams in given ratios. Both are deterministic per seed, rank and worker.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from detectron2.structures import Boxes, Instances, PolygonMasks
from detectron2.utils import comm

from ..charset import IGNORE, Charset
from .stream import _SeededStream, _worker_id, place_box, text_heights

__all__ = ["WordCrop", "load_word_crops", "FolderCropStream", "MixedCropStream", "place_crop"]


@dataclass(frozen=True)
class WordCrop:
    """One labelled word image: its path, transcription and quadrilateral (4, 2) in its
    pixels (None: the whole image)."""

    path: str
    text: str
    quad: Optional[Tuple[float, ...]] = None


def _read_lines(path: str) -> List[str]:
    with open(path, encoding="utf-8-sig") as f:
        return [line.rstrip("\r\n") for line in f]


def load_word_crops(folder: str) -> List[WordCrop]:
    """The labelled crops of a word-crop folder, in ``gt.txt`` order.

    Raises:
        FileNotFoundError: no ``gt.txt``, or a listed image is missing (the first one named).
        ValueError: a malformed line, named with file and line number.
    """
    gt_file = os.path.join(folder, "gt.txt")
    if not os.path.isfile(gt_file):
        raise FileNotFoundError(
            f"{gt_file} does not exist: a word-crop folder holds its images and a gt.txt of "
            '`<file>, "<text>"` lines (datasets/README.md, "Real word crops")')
    quads = {}
    coords_file = os.path.join(folder, "coords.txt")
    if os.path.isfile(coords_file):
        for lineno, line in enumerate(_read_lines(coords_file), 1):
            if not line.strip():
                continue
            parts = line.split(",")
            try:
                quads[parts[0].strip()] = tuple(float(v) for v in parts[1:9])
                if len(parts) < 9:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{coords_file}:{lineno}: expected `<file>,x1,y1,...,x4,y4`, "
                                 f"got {line!r}") from None
    crops, missing = [], []
    for lineno, line in enumerate(_read_lines(gt_file), 1):
        if not line.strip():
            continue
        row = next(csv.reader([line], skipinitialspace=True, escapechar="\\"))
        if len(row) < 2:
            raise ValueError(f'{gt_file}:{lineno}: expected `<file>, "<text>"`, got {line!r}')
        name, text = row[0].strip(), ",".join(row[1:])
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            missing.append(path)
        crops.append(WordCrop(path, text, quads.get(name)))
    if missing:
        raise FileNotFoundError(f"{gt_file} lists {len(missing)} image(s) that do not exist, "
                                f"e.g. {missing[0]}")
    if not crops:
        raise ValueError(f"{gt_file} lists no word images")
    return crops


def place_crop(image: np.ndarray, quad: np.ndarray, size: Tuple[int, int], height_frac: float,
               rng: np.random.Generator, margin: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """Scale ``image`` (h, w, 3) so that its word (``quad`` (4, 2)) is ``height_frac`` of the
    canvas height (shrunk to fit inside ``margin``), at a random position of a ``size`` =
    (H, W) canvas whose rest replicates the image's border. Returns the canvas (H, W, 3) and
    the word's quadrilateral (4, 2) in it."""
    (x0, y0), (x1, y1) = quad.min(0), quad.max(0)
    canvas, matrix = place_box(image, (x0, y0, x1, y1), size,
                               height_frac * size[0] / max(y1 - y0, 1.0), rng, margin)
    return canvas, quad * matrix[0, 0] + matrix[:, 2]


def _jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness/contrast jitter, sometimes blur, sometimes inverted: (H, W, 3) uint8."""
    out = image.astype(np.float32)
    mean = out.mean()
    out = (out - mean) * rng.uniform(0.7, 1.3) + mean + rng.uniform(-25, 25)
    if rng.random() < 0.2:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.4, 1.0))
    if rng.random() < 0.1:
        out = 255.0 - out
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class FolderCropStream(_SeededStream):
    """Endless augmented crops of ``crops`` (:func:`load_word_crops`) as model inputs: ``image``
    (3, H, W) uint8 and one instance (box, mask, text, text height). Words the charset cannot
    encode are left out (counted in ``num_skipped``)."""

    def __init__(self, crops: Sequence[WordCrop], seed: int, tag: str, charset: Charset,
                 size: Tuple[int, int], image_format: str = "BGR",
                 height_range: Tuple[float, float] = (0.3, 0.7)):
        super().__init__(seed, tag)
        self.size, self.image_format, self.height_range = tuple(size), image_format, height_range
        texts, _ = charset.encode_batch([c.text for c in crops])
        readable = (texts[:, 0] != IGNORE).tolist()
        self.crops = [c for c, ok in zip(crops, readable) if ok]
        self.texts = texts[torch.tensor(readable, dtype=torch.bool)]
        self.num_skipped = len(crops) - len(self.crops)
        if not self.crops:
            raise ValueError(f"none of the {len(crops)} word crops can be read with the charset "
                             f"{charset.chars!r}")

    def sample(self, index: int, rng: np.random.Generator) -> dict:
        """Crop ``index`` of the readable crops, augmented with ``rng``."""
        crop = self.crops[index]
        image = cv2.imread(crop.path, cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"{crop.path}: cannot be read as an image (re-extract the folder)")
        if self.image_format == "RGB":
            image = image[..., ::-1]
        ih, iw = image.shape[:2]
        quad = (np.asarray(crop.quad, np.float64).reshape(4, 2) if crop.quad is not None
                else np.array([[0, 0], [iw, 0], [iw, ih], [0, ih]], np.float64))
        canvas, quad = place_crop(image, quad, self.size, rng.uniform(*self.height_range), rng)
        canvas = _jitter(canvas, rng)
        h, w = self.size
        box = np.clip(np.concatenate([quad.min(0), quad.max(0)]), 0, [w, h, w, h])
        word = Instances((h, w))
        word.gt_boxes = Boxes(torch.tensor(box[None], dtype=torch.float32))
        word.gt_classes = torch.zeros(1, dtype=torch.long)
        word.gt_masks = PolygonMasks([[quad.reshape(-1)]])
        word.gt_texts = self.texts[index:index + 1].clone()
        word.gt_text_heights = torch.tensor(text_heights([quad]), dtype=torch.float32)
        return {"image": torch.as_tensor(np.ascontiguousarray(canvas.transpose(2, 0, 1))),
                "height": h, "width": w, "instances": word}

    def __iter__(self) -> Iterator[dict]:
        rng = np.random.default_rng(self._key(comm.get_rank(), _worker_id()))
        while True:
            for index in rng.permutation(len(self.crops)):
                yield self.sample(int(index), rng)


class MixedCropStream(torch.utils.data.IterableDataset):
    """Interleaves ``streams``, each next sample from stream ``k`` with probability
    ``ratios[k] / sum(ratios)``; ``start_iter`` is passed on to every stream."""

    def __init__(self, streams: Sequence[torch.utils.data.IterableDataset],
                 ratios: Sequence[float], seed: int):
        if len(streams) != len(ratios) or not streams or min(ratios) <= 0:
            raise ValueError(f"one positive ratio per stream, got {list(ratios)} for "
                             f"{len(streams)} stream(s)")
        self.streams, self.seed = list(streams), seed
        self.probs = np.asarray(ratios, np.float64) / sum(ratios)

    @property
    def start_iter(self) -> int:
        return self.streams[0].start_iter

    @start_iter.setter
    def start_iter(self, value: int) -> None:
        for s in self.streams:
            s.start_iter = value

    def __iter__(self) -> Iterator[dict]:
        rng = np.random.default_rng([self.seed, comm.get_rank(), _worker_id(), self.start_iter])
        iters = [iter(s) for s in self.streams]
        while True:
            yield next(iters[rng.choice(len(iters), p=self.probs)])
