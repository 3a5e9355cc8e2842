"""ICDAR 2015 Incidental Scene Text (RRC Challenge 4) ground truth: ``gt_img_<n>.txt``.

UTF-8 with a byte-order mark, one word per line: a quadrilateral and the transcription, which
may itself contain commas (everything after the 8th comma)::

    377,117,463,117,465,130,378,130,Genaxis Theatre
    374,155,409,155,409,170,374,170,###              (don't-care)
"""
from __future__ import annotations

from typing import Iterator, List

from .base import (
    GroundTruthError,
    ImageGT,
    Word,
    make_word,
    parse_numbers,
    per_image_gts,
    read_lines,
)

EXPECTED = "a line 'x1,y1,x2,y2,x3,y3,x4,y4,transcription'"
NUM_COORDS = 8


def split_quad_line(path: str, number: int, line: str, num_fields: int, expected: str
                    ) -> List[str]:
    """``line`` split at its first ``num_fields`` commas (the last field keeps its commas)."""
    fields = line.split(",", num_fields)
    if len(fields) <= num_fields:
        raise GroundTruthError(
            path, number, f"{len(fields)} comma-separated field(s) in {line!r}", expected)
    return fields


def read_ic15_file(path: str) -> List[Word]:
    """The words of one ICDAR 2015 ground-truth file (blank lines are skipped)."""
    words = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = split_quad_line(path, number, line, NUM_COORDS, EXPECTED)
        polygon = parse_numbers(path, number, fields[:NUM_COORDS], EXPECTED)
        words.append(make_word(polygon, fields[NUM_COORDS], line=number))
    return words


def read_ic15(images_dir: str, gt_path: str) -> Iterator[ImageGT]:
    """The images of ICDAR 2015: ``gt_img_1.txt`` -> ``img_1.jpg``."""
    return per_image_gts(images_dir, gt_path, read_ic15_file)
