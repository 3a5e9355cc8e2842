"""Training augmentations of the paper (DLD, §4.1) as detectron2 augmentations.

All geometric transforms here map coordinates exactly as they map pixels, so text polygons
can follow the image through ``TransformList.apply_coords``:

1. :class:`InstanceAwareCrop`: a random crop whose borders never cut a word;
2. a random rotation in ``[-angle, angle]`` on an expanded canvas (no text leaves the image);
3. :class:`RandomShortestEdgeScale`: shorter side drawn in ``scale_range`` x the base size;
4. :class:`ColorJitter`: random brightness, contrast and saturation;
5. (learning aids of the recognizer, not in the paper, off by default)
   :func:`build_photometric_aids`: the image made grey, the image inverted.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import numpy as np
from detectron2.config import CfgNode
from detectron2.data import transforms as T

__all__ = [
    "InstanceAwareCrop",
    "RandomShortestEdgeScale",
    "ColorJitter",
    "ColorJitterTransform",
    "build_photometric_aids",
    "invert",
    "build_text_train_augmentation",
    "build_text_test_augmentation",
]

# Luma weights per channel, in the channel order of each supported image format.
_GRAY_WEIGHTS = {
    "BGR": (0.114, 0.587, 0.299),
    "RGB": (0.299, 0.587, 0.114),
    "L": (1.0,),
}


def _check_format(image_format: str) -> None:
    if image_format not in _GRAY_WEIGHTS:
        raise ValueError(f"colour augmentations support INPUT.FORMAT in "
                         f"{sorted(_GRAY_WEIGHTS)}, got {image_format!r}")


def _free_borders(lo: np.ndarray, hi: np.ndarray, size: int) -> np.ndarray:
    """Integer border positions in ``[0, size]`` that cut none of the intervals ``(lo, hi)``.

    A border at ``p`` cuts an interval when ``lo < p < hi``. Returns the sorted positions.
    """
    cover = np.zeros(size + 2, dtype=np.int64)
    first = np.floor(lo).astype(np.int64) + 1  # first position strictly above lo
    last = np.ceil(hi).astype(np.int64) - 1  # last position strictly below hi
    valid = first <= last
    np.add.at(cover, first[valid], 1)
    np.add.at(cover, last[valid] + 1, -1)
    return np.flatnonzero(np.cumsum(cover[: size + 1]) == 0)


class InstanceAwareCrop(T.Augmentation):
    """Random crop that keeps every text instance either fully inside or fully outside.

    Crop borders are drawn among the positions that cross no instance box, so no word is
    cut; a window holding no instance is rejected. Each side of the window is at least
    ``min_ratio`` of the image side. After ``max_tries`` rejected windows the image is left
    uncropped.

    Inputs (``AugInput`` fields): ``image`` (H, W, C) and ``boxes`` (N, 4) XYXY — the
    bounding boxes of the text polygons.
    """

    def __init__(self, prob: float = 1.0, min_ratio: float = 0.5, max_tries: int = 50):
        if not 0.0 < min_ratio <= 1.0:
            raise ValueError(f"InstanceAwareCrop: min_ratio must be in (0, 1], got {min_ratio}")
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray, boxes: np.ndarray) -> T.Transform:
        h, w = image.shape[:2]
        if self._rand_range() >= self.prob:
            return T.NoOpTransform()
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        boxes = np.clip(boxes, 0, [w, h, w, h])
        # Boxes with no area inside the image constrain nothing.
        boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
        free_x = _free_borders(boxes[:, 0], boxes[:, 2], w)
        free_y = _free_borders(boxes[:, 1], boxes[:, 3], h)
        min_w, min_h = math.ceil(self.min_ratio * w), math.ceil(self.min_ratio * h)
        for _ in range(self.max_tries):
            x0, x1 = self._draw_span(free_x, min_w)
            y0, y1 = self._draw_span(free_y, min_h)
            inside = (
                (boxes[:, 0] >= x0) & (boxes[:, 2] <= x1)
                & (boxes[:, 1] >= y0) & (boxes[:, 3] <= y1)
            )
            if len(boxes) == 0 or inside.any():
                if (x0, y0, x1, y1) == (0, 0, w, h):
                    return T.NoOpTransform()
                return T.CropTransform(x0, y0, x1 - x0, y1 - y0, orig_w=w, orig_h=h)
        return T.NoOpTransform()

    @staticmethod
    def _draw_span(free: np.ndarray, min_len: int) -> Tuple[int, int]:
        """Two free positions ``start < end`` with ``end - start >= min_len``.

        ``free`` always holds 0 and the image side, so a span exists.
        """
        start = int(np.random.choice(free[free <= free[-1] - min_len]))
        end = int(np.random.choice(free[free >= start + min_len]))
        return start, end


class RandomShortestEdgeScale(T.Augmentation):
    """Resize so that the shorter side is ``f * base_size``, ``f ~ U(scale_range)``.

    The longer side is capped at ``f * max_size`` (the same factor), as when the image is
    resized to base ``base_size`` with cap ``max_size`` and then scaled by ``f``.
    """

    def __init__(
        self, base_size: int, scale_range: Sequence[float] = (0.3, 1.0), max_size: int = 1333
    ):
        lo, hi = scale_range
        if not 0.0 < lo <= hi:
            raise ValueError(f"RandomShortestEdgeScale: bad scale_range {tuple(scale_range)}")
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> T.Transform:
        h, w = image.shape[:2]
        f = np.random.uniform(*self.scale_range)
        new_h, new_w = T.ResizeShortestEdge.get_output_shape(
            h, w, f * self.base_size, f * self.max_size
        )
        return T.ResizeTransform(h, w, max(new_h, 1), max(new_w, 1))


class ColorJitterTransform(T.Transform):
    """Scales brightness, contrast and saturation (in this order); coordinates unchanged.

    Args:
        brightness, contrast, saturation: the factors (1 = unchanged).
        gray_weights: luma weight of each channel, in the image's channel order.
    """

    def __init__(
        self, brightness: float, contrast: float, saturation: float,
        gray_weights: Sequence[float],
    ):
        super().__init__()
        self._set_attributes(locals())

    def apply_image(self, img: np.ndarray) -> np.ndarray:
        weights = np.asarray(self.gray_weights, dtype=np.float32)
        out = img.astype(np.float32) * self.brightness
        mean = float((out @ weights).mean())
        out = (out - mean) * self.contrast + mean
        gray = (out @ weights)[..., None]
        out = (out - gray) * self.saturation + gray
        if img.dtype == np.uint8:
            return np.clip(np.rint(out), 0, 255).astype(np.uint8)
        return out.astype(img.dtype)

    def apply_coords(self, coords: np.ndarray) -> np.ndarray:
        return coords

    def apply_segmentation(self, segmentation: np.ndarray) -> np.ndarray:
        return segmentation

    def inverse(self) -> T.Transform:
        return T.NoOpTransform()


class ColorJitter(T.Augmentation):
    """With probability ``prob``, draw each factor in ``[1 - x, 1 + x]`` and jitter colours.

    ``image_format`` is the channel order of the images (``cfg.INPUT.FORMAT``): BGR, RGB or L.
    """

    def __init__(
        self,
        brightness: float = 0.3,
        contrast: float = 0.3,
        saturation: float = 0.3,
        prob: float = 1.0,
        image_format: str = "BGR",
    ):
        _check_format(image_format)
        super().__init__()
        self._init(locals())

    def get_transform(self, image: np.ndarray) -> T.Transform:
        if self._rand_range() >= self.prob:
            return T.NoOpTransform()
        b, c, s = (
            np.random.uniform(1.0 - x, 1.0 + x)
            for x in (self.brightness, self.contrast, self.saturation)
        )
        return ColorJitterTransform(b, c, s, _GRAY_WEIGHTS[self.image_format])


def invert(image: np.ndarray) -> np.ndarray:
    """``255 - image`` of a uint8 image: light ink on dark becomes dark on light."""
    if image.dtype != np.uint8:
        raise TypeError(f"inversion expects uint8 images, got {image.dtype}")
    return 255 - image


def build_photometric_aids(cfg: CfgNode) -> List[T.Augmentation]:
    """The recognizer's photometric learning aids of ``cfg.INPUT.TEXT_AUG`` that are on: the
    image made grey (its luma in every channel, :class:`ColorJitterTransform` at saturation
    0) with probability ``GRAY_PROB``, then inverted (:func:`invert`) with ``INVERT_PROB``."""
    aug = cfg.INPUT.TEXT_AUG
    aids = []
    if aug.GRAY_PROB > 0:
        _check_format(cfg.INPUT.FORMAT)
        gray = ColorJitterTransform(1.0, 1.0, 0.0, _GRAY_WEIGHTS[cfg.INPUT.FORMAT])
        aids.append(T.RandomApply(gray, prob=aug.GRAY_PROB))
    if aug.INVERT_PROB > 0:
        aids.append(T.RandomApply(T.ColorTransform(invert), prob=aug.INVERT_PROB))
    return aids


def build_text_train_augmentation(cfg: CfgNode, base_size: int = 0) -> List[T.Augmentation]:
    """The training augmentations of §4.1, from ``cfg.INPUT.TEXT_AUG``, around the base
    resolution ``base_size`` (0: ``INPUT.MIN_SIZE_TRAIN``; the cap ``MAX_SIZE_TRAIN`` scales
    with it).

    Order: crop, rotation (on the full-resolution image), scale, colour, then the
    photometric aids (:func:`build_photometric_aids`) — so the final shorter side follows
    ``SCALE_RANGE`` whatever the rotation added to the canvas.
    """
    aug = cfg.INPUT.TEXT_AUG
    base, max_size = _base_and_cap(base_size, cfg.INPUT.MIN_SIZE_TRAIN[-1],
                                   cfg.INPUT.MAX_SIZE_TRAIN)
    return [
        InstanceAwareCrop(aug.CROP_PROB, aug.CROP_MIN_RATIO),
        T.RandomApply(
            T.RandomRotation([-aug.ROTATE_ANGLE, aug.ROTATE_ANGLE], expand=True),
            prob=aug.ROTATE_PROB,
        ),
        RandomShortestEdgeScale(base, aug.SCALE_RANGE, max_size),
        ColorJitter(
            aug.BRIGHTNESS, aug.CONTRAST, aug.SATURATION, aug.COLOR_PROB, cfg.INPUT.FORMAT
        ),
        *build_photometric_aids(cfg),
    ]


def build_text_test_augmentation(cfg: CfgNode, base_size: int = 0) -> List[T.Augmentation]:
    """Resize only: shorter side ``base_size`` (0: ``MIN_SIZE_TEST``), longer side at most
    ``MAX_SIZE_TEST`` scaled with it."""
    base, max_size = _base_and_cap(base_size, cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST)
    return [T.ResizeShortestEdge(base, max_size, "choice")]


def _base_and_cap(base_size: int, default: int, max_size: int) -> Tuple[int, int]:
    """``(base, cap)``: ``base_size`` (or ``default``) and ``max_size`` scaled by the same
    factor, so that the config's aspect-ratio cap holds at every base resolution."""
    if base_size <= 0:
        return default, max_size
    return base_size, int(round(max_size * base_size / default))
