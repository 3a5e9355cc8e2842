"""What every ground-truth reader shares: the parsed records, errors that name the file and
line, text-file reading, image look-up and image sizes."""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..image_io import IMAGE_EXTENSIONS, ImageSize, image_size  # noqa: F401 (re-exported)

DONT_CARE = "###"  # the transcription of a don't-care region, in every format


@dataclass
class Word:
    """One annotated text instance.

    Attributes:
        polygon: flat ``[x1, y1, x2, y2, ...]`` (>= 3 points), clockwise on screen.
        text: the transcription, ``"###"`` when ``ignore``.
        ignore: don't-care (illegible, or a script the model does not read).
        line: the line of the ground-truth file it was read from (None: no line, e.g.
            SynthText's gt.mat), for messages; not compared.
    """

    polygon: List[float]
    text: str
    ignore: bool = False
    line: Optional[int] = field(default=None, compare=False)


@dataclass
class ImageGT:
    """The ground truth of one image; ``file_name`` is relative to the images folder."""

    file_name: str
    words: List[Word]
    source: str = ""  # the ground-truth file it came from (for messages)


class GroundTruthError(ValueError):
    """A malformed ground-truth file: names the file, the line and what was expected."""

    def __init__(self, path: str, line: Optional[int], what: str, expected: str):
        where = f"{path}, line {line}" if line is not None else path
        super().__init__(f"{where}: {what}; expected {expected}")


def make_word(polygon: Sequence[float], text: str, ignore: bool = False,
              line: Optional[int] = None) -> Word:
    """A :class:`Word` with a clockwise polygon; ``"###"`` and empty texts are don't-care."""
    ignore = ignore or text == DONT_CARE or not text
    return Word(clockwise([float(v) for v in polygon]), DONT_CARE if ignore else text, ignore,
                line)


def clockwise(polygon: List[float]) -> List[float]:
    """``polygon`` (flat) in clockwise order on screen (y down), keeping its first point.

    A counter-clockwise polygon (negative shoelace sum in image coordinates) is reversed.
    """
    xs, ys = polygon[0::2], polygon[1::2]
    n = len(xs)
    twice_area = sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))
    if twice_area >= 0:
        return polygon
    order = [0] + list(range(n - 1, 0, -1))
    return [v for i in order for v in (xs[i], ys[i])]


def read_lines(path: str) -> List[str]:
    """The lines of a UTF-8 text file, without a byte-order mark or line ends (LF/CRLF/CR)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        text = f.read()
    return text.splitlines()


def parse_numbers(path: str, line: int, fields: Sequence[str], expected: str) -> List[float]:
    """``fields`` as finite floats, or a :class:`GroundTruthError` quoting the first bad one
    (``nan`` and ``inf`` are numbers to Python, not coordinates)."""
    try:
        values = [float(v) for v in fields]
    except ValueError:
        bad = next(v for v in fields if not is_number(v))
        raise GroundTruthError(path, line, f"{bad.strip()!r} is not a number", expected) from None
    check_finite(path, line, values, fields, expected)
    return values


def check_finite(path: str, line: Optional[int], values: Sequence[float],
                 fields: Optional[Sequence[str]], expected: str) -> None:
    """A :class:`GroundTruthError` quoting the first NaN or infinite value, if any."""
    for k, v in enumerate(values):
        if not math.isfinite(v):
            shown = fields[k].strip() if fields is not None else str(v)
            raise GroundTruthError(path, line, f"{shown!r} is not a finite number", expected)


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def natural_key(name: str) -> Tuple:
    """Sort key that orders ``img_2`` before ``img_10``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def list_gt_files(gt_path: str, suffix: str = ".txt") -> List[str]:
    """``gt_path`` itself if it is a file, else its ``*.txt`` files in natural order."""
    if os.path.isfile(gt_path):
        return [gt_path]
    if not os.path.isdir(gt_path):
        raise FileNotFoundError(f"Ground truth {gt_path} does not exist (a file or a folder)")
    names = sorted((n for n in os.listdir(gt_path) if n.lower().endswith(suffix)), key=natural_key)
    if not names:
        raise FileNotFoundError(f"No ground-truth files *{suffix} in {gt_path}")
    return [os.path.join(gt_path, n) for n in names]


class ImageIndex:
    """The images of a folder (not recursive), found by file stem."""

    def __init__(self, images_dir: str):
        if not os.path.isdir(images_dir):
            raise FileNotFoundError(f"Images folder {images_dir} does not exist")
        self.images_dir = images_dir
        self._by_stem: Dict[str, str] = {}
        for name in sorted(os.listdir(images_dir)):
            stem, ext = os.path.splitext(name)
            if ext.lower() in IMAGE_EXTENSIONS and not os.path.isdir(
                    os.path.join(images_dir, name)):
                self._by_stem.setdefault(stem, name)

    def find(self, stem: str, gt_file: str) -> str:
        """The file name of image ``stem``, or a ``FileNotFoundError`` naming ``gt_file``."""
        if stem not in self._by_stem:
            raise FileNotFoundError(
                f"{gt_file}: its image {stem}{{{','.join(IMAGE_EXTENSIONS)}}} is not in "
                f"{self.images_dir}; check --images (the folder holding the unzipped images)"
            )
        return self._by_stem[stem]


def image_stem(gt_file: str, prefixes: Sequence[str]) -> str:
    """The image stem of a per-image ground-truth file: ``gt_img_1.txt`` -> ``img_1``."""
    stem = os.path.splitext(os.path.basename(gt_file))[0]
    for prefix in prefixes:
        if stem.startswith(prefix):
            return stem[len(prefix):]
    return stem


def per_image_gts(images_dir: str, gt_path: str, read_file, prefixes: Sequence[str] = ("gt_",)
                  ) -> Iterator[ImageGT]:
    """One :class:`ImageGT` per ground-truth file of a per-image text format.

    Args:
        read_file: ``path -> list[Word]``, the format's reader of one file.
        prefixes: file-name prefixes that the image's stem lacks (first match is removed).
    """
    index = ImageIndex(images_dir)
    for gt_file in list_gt_files(gt_path):
        file_name = index.find(image_stem(gt_file, prefixes), gt_file)
        yield ImageGT(file_name, read_file(gt_file), source=gt_file)
