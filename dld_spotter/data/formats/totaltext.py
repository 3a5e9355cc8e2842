"""Total-Text ground truth (.txt files of the official repository): ``poly_gt_<image>.txt``.

Two line formats are read, chosen per file by its first line:

- the repository's text format (``Groundtruth/Text``), one word per record, a record being
  a line that starts with ``x:`` plus any continuation lines (long coordinate lists wrap)::

      x: [[115 503 494 115]], y: [[322 346 426 404]], ornt: [u'm'], transcriptions: [u'nauGHTY']

  ``ornt`` is h(orizontal), m(ulti-oriented), c(urved) or ``#``; the transcription is a
  Python string literal (``u'...'`` or ``u"..."``).
- comma-separated polygons of any length, ``x1,y1,x2,y2,...,xn,yn,transcription``: the
  coordinates are the longest even run of leading numeric fields that leaves at least one
  field, the rest (commas included) is the transcription.

A transcription ``#`` or ``###`` (or ``ornt`` ``#``) is don't-care. Polygons with fewer than
3 points are skipped with a warning.
"""
from __future__ import annotations

import ast
import logging
import re
from typing import Iterator, List, Optional, Tuple

from .base import (
    DONT_CARE,
    GroundTruthError,
    ImageGT,
    Word,
    check_finite,
    is_number,
    make_word,
    parse_numbers,
    per_image_gts,
    read_lines,
)

logger = logging.getLogger(__name__)

EXPECTED_LEGACY = ("a record \"x: [[x1 x2 ...]], y: [[y1 y2 ...]], ornt: [u'h'], "
                   "transcriptions: [u'text']\"")
EXPECTED_COMMAS = "a line 'x1,y1,x2,y2,...,xn,yn,transcription' (at least 3 points)"
DONT_CARE_MARKS = ("#", DONT_CARE)
_RECORD = re.compile(
    r"^\s*x:\s*\[\[(?P<x>[^\]]*)\]\],\s*y:\s*\[\[(?P<y>[^\]]*)\]\],\s*"
    r"ornt:\s*\[(?P<ornt>[^\]]*)\],\s*transcriptions:\s*\[(?P<text>.*)\]\s*$"
)


def _literal(path: str, line: int, source: str) -> str:
    try:
        value = ast.literal_eval(source.strip())
    except (ValueError, SyntaxError):
        value = None
    if not isinstance(value, str):
        raise GroundTruthError(path, line, f"{source.strip()!r} is not a quoted string",
                               EXPECTED_LEGACY)
    return value


def _numbers(path: str, line: int, source: str) -> List[float]:
    fields = [v for v in re.split(r"[\s,]+", source.strip()) if v]
    return parse_numbers(path, line, fields, EXPECTED_LEGACY)


def _records(lines: List[str]) -> Iterator[Tuple[int, str]]:
    """(first line number, text) of each record: an ``x:`` line joined to its continuations.

    The first non-blank line must start a record.
    """
    start, parts = 0, []
    for number, line in enumerate(lines, start=1):
        if line.lstrip().startswith("x:"):
            if parts:
                yield start, " ".join(parts)
            start, parts = number, [line.strip()]
        elif line.strip():
            parts.append(line.strip())
    if parts:
        yield start, " ".join(parts)


def _parse_legacy(path: str, number: int, record: str) -> Tuple[List[float], str, bool]:
    match = _RECORD.match(record)
    if match is None:
        raise GroundTruthError(path, number, f"cannot parse {record!r}", EXPECTED_LEGACY)
    xs = _numbers(path, number, match["x"])
    ys = _numbers(path, number, match["y"])
    if len(xs) != len(ys):
        raise GroundTruthError(path, number, f"{len(xs)} x but {len(ys)} y coordinates",
                               EXPECTED_LEGACY)
    text = _literal(path, number, match["text"])
    ornt = _literal(path, number, match["ornt"]) if match["ornt"].strip() else ""
    polygon = [v for point in zip(xs, ys) for v in point]
    return polygon, text, ornt == "#"


def _parse_commas(path: str, number: int, line: str) -> Tuple[List[float], str, bool]:
    fields = line.split(",")
    numeric = 0
    while numeric < len(fields) - 1 and is_number(fields[numeric]):
        numeric += 1
    numeric -= numeric % 2
    if numeric < 6:
        raise GroundTruthError(path, number, f"cannot parse {line!r}", EXPECTED_COMMAS)
    polygon = [float(v) for v in fields[:numeric]]
    check_finite(path, number, polygon, fields[:numeric], EXPECTED_COMMAS)
    return polygon, ",".join(fields[numeric:]), False


def read_totaltext_file(path: str) -> List[Word]:
    """The words of one Total-Text ground-truth file, in either format."""
    lines = read_lines(path)
    first: Optional[str] = next((line for line in lines if line.strip()), None)
    if first is None:
        return []
    if first.lstrip().startswith("x:"):
        entries = [(n, *_parse_legacy(path, n, r)) for n, r in _records(lines)]
    else:
        entries = [(n, *_parse_commas(path, n, line))
                   for n, line in enumerate(lines, start=1) if line.strip()]
    words = []
    for number, polygon, text, ignore in entries:
        if len(polygon) < 6:
            logger.warning(f"{path}, line {number}: skipped a polygon of {len(polygon) // 2} "
                           "point(s) (fewer than 3)")
            continue
        words.append(make_word(polygon, text, ignore=ignore or text.strip() in DONT_CARE_MARKS,
                               line=number))
    return words


def read_totaltext(images_dir: str, gt_path: str) -> Iterator[ImageGT]:
    """The images of Total-Text: ``poly_gt_img11.txt`` (or ``gt_img11.txt``) -> ``img11.jpg``."""
    return per_image_gts(images_dir, gt_path, read_totaltext_file, prefixes=("poly_gt_", "gt_"))
