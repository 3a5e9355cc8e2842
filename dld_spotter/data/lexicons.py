"""Lexicons of the text-spotting benchmarks (see ``datasets/README.md``, "Lexicons").

- strong: one list per image (IC13/IC15 ``voc_img_<n>.txt``), stored by the converter in the
  image's ``"lexicon"`` key and carried by its dataset dict;
- weak (all words of a data set's test set), generic (the ~90k-word list of IC13/IC15) and
  full (all words of Total-Text's test set): one file per data set, named in the data set's
  metadata as ``lexicons = {"weak": path, "generic": path, "full": path}``.

Files have one word per line (UTF-8, an optional byte-order mark, LF or CRLF line ends).
"""
from __future__ import annotations

import os
from typing import Dict, List

from .formats.base import read_lines

LEXICON_KINDS = ("weak", "generic", "full")
PER_IMAGE_NAMES = ("voc_{stem}.txt", "new_voc_{stem}.txt", "{stem}.txt")


def load_lexicon(path: str) -> List[str]:
    """The words of a lexicon file, in order, without blanks, surrounding spaces or repeats."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Lexicon file {path} does not exist")
    words = (line.strip() for line in read_lines(path))
    return list(dict.fromkeys(w for w in words if w))


def per_image_lexicon(lexicon_dir: str, file_name: str) -> List[str]:
    """The strong lexicon of image ``file_name`` from ``lexicon_dir``.

    Looks for ``voc_<stem>.txt``, ``new_voc_<stem>.txt`` and ``<stem>.txt``, in that order.
    """
    stem = os.path.splitext(os.path.basename(file_name))[0]
    names = [n.format(stem=stem) for n in PER_IMAGE_NAMES]
    for name in names:
        path = os.path.join(lexicon_dir, name)
        if os.path.isfile(path):
            return load_lexicon(path)
    raise FileNotFoundError(
        f"No strong lexicon for image {file_name} in {lexicon_dir} (looked for "
        f"{', '.join(names)}); check --lexicons, or leave it out for a set without one"
    )


def lexicon_files(folder: str) -> Dict[str, str]:
    """``{kind: path}`` of the files ``<folder>/<kind>.txt`` that exist (kinds: LEXICON_KINDS)."""
    paths = {kind: os.path.join(folder, f"{kind}.txt") for kind in LEXICON_KINDS}
    return {kind: path for kind, path in paths.items() if os.path.isfile(path)}
