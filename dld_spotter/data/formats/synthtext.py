"""SynthText (Gupta et al., CVPR 2016) ground truth: one MATLAB file ``gt.mat`` for all images.

Read with ``scipy.io.loadmat``; cell arrays of shape (1, N):

- ``imnames{i}``: the image path relative to the SynthText folder, e.g. ``8/ballet_106_0.jpg``;
- ``wordBB{i}``: the word quadrilaterals, (2, 4, n) = (x/y, corner, word) with corners
  top-left, top-right, bottom-right, bottom-left; (2, 4) when the image has a single word;
- ``txt{i}``: text lines (strings padded with spaces); the words are their whitespace-separated
  parts, in the order of the boxes.
"""
from __future__ import annotations

import os
from typing import Iterator, List

import numpy as np
import scipy.io

from .base import GroundTruthError, ImageGT, check_finite, make_word

KEYS = ("imnames", "wordBB", "txt")
EXPECTED = "a SynthText gt.mat with cell arrays imnames, wordBB (2x4xn) and txt of equal length"


def _strings(cell) -> List[str]:
    """All strings inside a loaded MATLAB cell / char array, in order."""
    if isinstance(cell, str):
        return [cell]
    return [s for item in np.asarray(cell, dtype=object).ravel() for s in _strings(item)]


def read_synthtext(images_dir: str, gt_path: str) -> Iterator[ImageGT]:
    """The images of SynthText; ``gt_path`` is ``gt.mat`` or the folder that holds it.

    ``images_dir`` is not read: image paths in ``gt.mat`` are relative to it.
    """
    del images_dir
    if os.path.isdir(gt_path):
        gt_path = os.path.join(gt_path, "gt.mat")
    if not os.path.isfile(gt_path):
        raise FileNotFoundError(f"SynthText ground truth {gt_path} does not exist")
    mat = scipy.io.loadmat(gt_path)
    missing = [k for k in KEYS if k not in mat]
    if missing:
        raise GroundTruthError(gt_path, None, f"no variable {missing[0]!r}", EXPECTED)
    names, boxes, texts = (np.asarray(mat[k], dtype=object).ravel() for k in KEYS)
    if not len(names) == len(boxes) == len(texts):
        raise GroundTruthError(gt_path, None, f"{len(names)} imnames, {len(boxes)} wordBB and "
                               f"{len(texts)} txt entries", EXPECTED)
    for i, (name, bb, txt) in enumerate(zip(names, boxes, texts)):
        file_name = "".join(_strings(name))
        source = f"{gt_path} (entry {i}, {file_name})"
        bb = np.asarray(bb, dtype=np.float64)
        if bb.ndim == 2:
            bb = bb[:, :, None]
        words = " ".join(_strings(txt)).split()
        if bb.shape[:2] != (2, 4) or bb.shape[2] != len(words):
            raise GroundTruthError(source, None, f"wordBB of shape {bb.shape} for {len(words)} "
                                   "word(s) in txt", "wordBB of shape (2, 4, number of words)")
        polygons = bb.transpose(2, 1, 0).reshape(len(words), 8).tolist()
        for k, polygon in enumerate(polygons):
            check_finite(f"{source}, word {k}", None, polygon, None,
                         "finite wordBB coordinates")
        yield ImageGT(file_name, [make_word(p, w) for p, w in zip(polygons, words)],
                      source=source)
