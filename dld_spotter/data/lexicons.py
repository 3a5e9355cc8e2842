"""Lexicons of the text-spotting benchmarks (see ``datasets/README.md``, "Lexicons").

- strong: one list per image (IC13/IC15 ``voc_img_<n>.txt``), stored by the converter in the
  image's ``"lexicon"`` key and carried by its dataset dict;
- weak (all words of a data set's test set), generic (the ~90k-word list of IC13/IC15) and
  full (all words of Total-Text's test set): one file per data set, named in the data set's
  metadata as ``lexicons = {"weak": path, "generic": path, "full": path}``;
- :func:`sample_lexicons`: strong and weak lexicons made the way ICDAR 2015 made its test
  set's, for a set that has none (a held-out part of a training set, to tune on).

Files have one word per line (UTF-8, an optional byte-order mark, LF or CRLF line ends).
"""
from __future__ import annotations

import os
import random
import re
from typing import Dict, List, Optional, Sequence, Tuple

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


# ICDAR 2015's vocabulary words: letters (any script), inner hyphens allowed, at least 3.
_VOCABULARY_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_SURROUNDING_PUNCTUATION = re.compile(r"^\W+|\W+$")


def vocabulary_word(text: str) -> Optional[str]:
    """``text`` as the ICDAR 2015 vocabularies write it (upper case, surrounding punctuation
    stripped), or None for a word they leave out (digits, fewer than 3 letters).

    Applied to the legible words of the IC15 test set, this rule gives 1 067 words, 1 062 of
    them in the release's 1 071-word weak vocabulary.
    """
    word = _SURROUNDING_PUNCTUATION.sub("", text).upper()
    return word if len(word) >= 3 and _VOCABULARY_WORD.fullmatch(word) else None


def _vocabulary(dataset_dict: dict) -> List[str]:
    words = (vocabulary_word(a["text"]) for a in dataset_dict["annotations"]
             if not a.get("ignore", False))
    return list(dict.fromkeys(w for w in words if w))


def sample_lexicons(
    dataset_dicts: Sequence[dict],
    pool: Sequence[dict],
    strong_size: int = 100,
    weak_size: int = 1071,
    seed: int = 0,
) -> Tuple[List[List[str]], List[str]]:
    """Strong and weak lexicons for ``dataset_dicts`` made as ICDAR 2015 made its test set's.

    The weak lexicon holds every vocabulary word (:func:`vocabulary_word`) of the set's legible
    words, filled up to ``weak_size`` with words of ``pool`` (other images of the same kind:
    IC15's test vocabulary has 1 071 words for 500 images); an image's strong lexicon holds its
    own vocabulary words and distractors drawn from the weak one, ``strong_size`` in all.

    Args:
        dataset_dicts: the images to give lexicons (detectron2 dicts with ``annotations``).
        pool: images whose words fill the weak lexicon (not those of ``dataset_dicts``).

    Returns:
        (one strong lexicon per image of ``dataset_dicts``, in order; the weak lexicon)
    """
    rng = random.Random(seed)
    own = [_vocabulary(d) for d in dataset_dicts]
    weak = list(dict.fromkeys(w for words in own for w in words))
    extra = [w for w in dict.fromkeys(w for d in pool for w in _vocabulary(d)) if w not in weak]
    weak += rng.sample(extra, min(len(extra), max(0, weak_size - len(weak))))
    strong = []
    for words in own:
        others = [w for w in weak if w not in words]
        distractors = rng.sample(others, min(len(others), max(0, strong_size - len(words))))
        strong.append(sorted(words + distractors))
    return strong, weak
