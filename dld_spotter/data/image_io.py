"""The one image reader of the project: the mapper (training and evaluation), the demo and the
converters (image sizes) read images here, so that they agree on which files are images and
on what an image holds.

- :data:`IMAGE_EXTENSIONS`: the file types read (every one that occurs in the benchmarks:
  MLT17 ships GIFs) — a folder given to the demo is listed with them, and the converters find
  a ground-truth file's image with them.
- :func:`read_image`: detectron2's reading (EXIF orientation applied, ``format`` BGR, RGB, L,
  ...), except that a 16-bit (or 32-bit integer) greyscale image is scaled to 8 bits instead of
  being clipped at 255 (which turns almost every pixel white), a GIF gives its first frame, and
  every failure is an ``OSError`` that names the file: ``FileNotFoundError``,
  ``IsADirectoryError`` (a folder named ``x.jpg``), or "cannot be decoded" (truncated,
  corrupt, not an image, or more pixels than PIL's decompression-bomb limit).
- :func:`image_size`: the size of an image as :func:`read_image` returns it, from its header.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
from detectron2.data import detection_utils as utils
from PIL import Image

__all__ = ["IMAGE_EXTENSIONS", "ImageSize", "image_size", "is_image_name", "read_image"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp")
_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)  # EXIF orientations that swap width and height
# PIL modes of more than 8 bits per grey pixel, and the value that maps to 255.
_WIDE_GREY_MODES = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535,
                    "I": 65535}


def is_image_name(name: str) -> bool:
    """Whether ``name`` ends with one of :data:`IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _check_path(file_name: str) -> None:
    if os.path.isdir(file_name):
        raise IsADirectoryError(f"{file_name!r} is a directory, not an image")
    if not os.path.exists(file_name):
        raise FileNotFoundError(
            f"Image {file_name!r} does not exist. Check the data set root (the image_root the "
            "data set was registered with, e.g. under $DLD_DATASETS), or regenerate the data set."
        )


def _undecodable(file_name: str, error: BaseException) -> OSError:
    return OSError(
        f"Image {file_name!r} cannot be decoded ({type(error).__name__}: {error}); the file is "
        "truncated or corrupt, or no image. Regenerate or re-download the data set, or remove "
        "the image from the annotation file."
    )


def _to_8_bits(image: Image.Image) -> Image.Image:
    """``image`` with a wide greyscale mode (16-bit PNG, 32-bit integer TIFF) scaled to 8-bit
    "L" (0..65535 -> 0..255; values outside clipped); other images unchanged."""
    top = _WIDE_GREY_MODES.get(image.mode)
    if top is None:
        return image
    values = np.asarray(image).astype(np.float64)
    scaled = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
    return Image.fromarray(scaled, mode="L")


def read_image(file_name: str, format: str = "BGR") -> np.ndarray:  # noqa: A002 (detectron2's)
    """The image ``file_name`` as an (H, W, C) uint8 array in ``format`` (detectron2's
    ``read_image`` formats; "L" gives (H, W, 1)), EXIF rotation applied, 16-bit greyscale
    scaled to 8 bits.

    Raises:
        FileNotFoundError: no such file.
        IsADirectoryError: ``file_name`` is a folder.
        OSError: the file cannot be decoded as an image (the message names it).
    """
    _check_path(file_name)
    try:
        with Image.open(file_name) as image:
            image = utils._apply_exif_orientation(image)
            return utils.convert_PIL_to_numpy(_to_8_bits(image), format)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise _undecodable(file_name, e) from None


class ImageSize(NamedTuple):
    height: int
    width: int
    exif_rotated: bool  # detectron2 rotates the image on reading (EXIF orientation != 1)


def image_size(path: str) -> ImageSize:
    """The size of an image as :func:`read_image` returns it (EXIF rotation applied); reads the
    header only. Raises as :func:`read_image` does."""
    _check_path(path)
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise _undecodable(path, e) from None
    if orientation in _TRANSPOSING_ORIENTATIONS:
        width, height = height, width
    return ImageSize(height, width, orientation != 1)
