"""ICDAR 2013 Focused Scene Text (RRC Challenge 2) ground truth: ``gt_<image>.txt`` per image.

One word per line, an axis-aligned box and the quoted transcription::

    38 43 920 215 "Tiredness"        (training set: separated by spaces)
    38, 43, 920, 215, "Tiredness"    (test set: separated by commas)

``\\"`` and ``\\\\`` inside the quotes stand for ``"`` and ``\\``. The box becomes the 4-point
polygon (xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax).
"""
from __future__ import annotations

import re
from typing import Iterator, List

from .base import GroundTruthError, ImageGT, Word, make_word, per_image_gts, read_lines

EXPECTED = 'a line "xmin ymin xmax ymax "text"" (fields separated by spaces or commas)'
_NUM = r"([-+]?\d+(?:\.\d*)?)"
_SEP = r"(?:\s*,\s*|\s+)"
_LINE = re.compile(rf"^\s*{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}{_SEP}\"(.*)\"\s*$")
_ESCAPE = re.compile(r"\\([\\\"])")


def read_ic13_file(path: str) -> List[Word]:
    """The words of one ICDAR 2013 ground-truth file (blank lines are skipped)."""
    words = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise GroundTruthError(path, number, f"cannot parse {line!r}", EXPECTED)
        x0, y0, x1, y1 = (float(v) for v in match.groups()[:4])
        if x1 < x0 or y1 < y0:
            raise GroundTruthError(path, number, f"the box {line!r} has xmax < xmin or "
                                   "ymax < ymin", EXPECTED)
        text = _ESCAPE.sub(r"\1", match.group(5))
        words.append(make_word([x0, y0, x1, y0, x1, y1, x0, y1], text, line=number))
    return words


def read_ic13(images_dir: str, gt_path: str) -> Iterator[ImageGT]:
    """The images of ICDAR 2013: ``gt_100.txt`` -> ``100.jpg``, ``gt_img_1.txt`` -> ``img_1.*``."""
    return per_image_gts(images_dir, gt_path, read_ic13_file)
