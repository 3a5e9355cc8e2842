"""ICDAR 2017 MLT (RRC Challenge 8) ground truth: ``gt_img_<n>.txt``.

One word per line: a quadrilateral, the script and the transcription (which may contain
commas)::

    31,52,138,52,138,88,31,88,Latin,HELLO
    10,10,60,10,60,30,10,30,Arabic,...         (not read by a Latin model: don't-care)
    5,5,9,5,9,9,5,9,Latin,###                   (don't-care)

Words of a script in ``KEPT_SCRIPTS`` keep their transcription; all others become don't-care.
"""
from __future__ import annotations

from typing import Iterator, List, Sequence

from .base import ImageGT, Word, make_word, parse_numbers, per_image_gts, read_lines
from .ic15 import NUM_COORDS, split_quad_line

EXPECTED = "a line 'x1,y1,x2,y2,x3,y3,x4,y4,script,transcription'"
KEPT_SCRIPTS = ("Latin",)


def read_mlt17_file(path: str, kept_scripts: Sequence[str] = KEPT_SCRIPTS) -> List[Word]:
    """The words of one MLT 2017 ground-truth file (blank lines are skipped)."""
    words = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        fields = split_quad_line(path, number, line, NUM_COORDS + 1, EXPECTED)
        polygon = parse_numbers(path, number, fields[:NUM_COORDS], EXPECTED)
        script, text = fields[NUM_COORDS].strip(), fields[NUM_COORDS + 1]
        words.append(make_word(polygon, text, ignore=script not in kept_scripts, line=number))
    return words


def read_mlt17(images_dir: str, gt_path: str) -> Iterator[ImageGT]:
    """The images of MLT 2017: ``gt_img_1.txt`` -> ``img_1.jpg`` (or .png, .gif)."""
    return per_image_gts(images_dir, gt_path, read_mlt17_file)
