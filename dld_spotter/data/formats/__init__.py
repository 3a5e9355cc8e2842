"""Readers of the native ground truth of the public text-spotting benchmarks.

Each reader is ``reader(images_dir, gt_path) -> Iterator[ImageGT]``; ``READERS`` maps the
names of ``python -m dld_spotter.data.convert`` to them.
"""
from .base import DONT_CARE, GroundTruthError, ImageGT, Word, image_size
from .ic13 import read_ic13, read_ic13_file
from .ic15 import read_ic15, read_ic15_file
from .mlt17 import read_mlt17, read_mlt17_file
from .synthtext import read_synthtext
from .totaltext import read_totaltext, read_totaltext_file

READERS = {
    "ic13": read_ic13,
    "ic15": read_ic15,
    "totaltext": read_totaltext,
    "synthtext": read_synthtext,
    "mlt17": read_mlt17,
}

__all__ = [
    "DONT_CARE", "GroundTruthError", "ImageGT", "Word", "image_size", "READERS",
    "read_ic13", "read_ic13_file", "read_ic15", "read_ic15_file", "read_mlt17",
    "read_mlt17_file", "read_synthtext", "read_totaltext", "read_totaltext_file",
]
