"""Lexicons and lexicon correction: a predicted word is replaced by its nearest lexicon word.

The distance is the Levenshtein edit distance (insertions, deletions and substitutions of one
character each cost 1) between case-folded words, computed by rapidfuzz (C++): a nearest-word
query is one ``rapidfuzz.process.extractOne`` over the lexicon, with a cut-off on the distance
when the correction has one, so the 90k-word generic lexicon costs a few milliseconds per
query; results are cached per query.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

__all__ = ["Lexicon", "correct_text", "edit_distance"]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (case-sensitive)."""
    return Levenshtein.distance(a, b)


class Lexicon:
    """A set of words and nearest-word queries.

    Words are compared case-folded; duplicates (after case folding) keep their first spelling.
    """

    def __init__(self, words: Iterable[str]):
        """
        Args:
            words: the lexicon; empty strings are skipped.
        """
        first = {}
        for word in words:
            if word:
                first.setdefault(word.casefold(), word)
        self.words: list[str] = list(first.values())
        self._keys: list[str] = list(first)
        self._cache: dict[tuple[str, int | None], tuple[str, int] | None] = {}

    def __len__(self) -> int:
        return len(self.words)

    def nearest(self, word: str, max_distance: int | None = None) -> tuple[str, int] | None:
        """The lexicon word nearest to ``word`` and its edit distance (ties: the word that
        comes first in the lexicon); None for an empty lexicon, or when ``max_distance`` is
        given and no word is that close."""
        query = word.casefold()
        key = (query, max_distance)
        if key not in self._cache:
            found = process.extractOne(
                query, self._keys, scorer=Levenshtein.distance, score_cutoff=max_distance
            )
            self._cache[key] = None if found is None else (self.words[found[2]], found[1])
        return self._cache[key]


def correct_text(text: str, lexicon: Lexicon | None, max_distance: float = 1.0) -> str:
    """``text`` replaced by its nearest lexicon word when close enough.

    Args:
        text: a predicted transcription.
        lexicon: the lexicon (None or empty: ``text`` is returned unchanged).
        max_distance: the cut-off on the *normalised* edit distance
            ``d / max(len(text), len(word))`` (in [0, 1]): the nearest word replaces ``text``
            when its normalised distance is <= ``max_distance``. 1.0 always replaces (the
            convention of published lexicon results); 0.0 only fixes case.
    """
    if lexicon is None:
        return text
    found = lexicon.nearest(text, _distance_bound(len(text), max_distance))
    if found is None:
        return text
    word, distance = found
    return word if distance <= max_distance * max(len(text), len(word)) else text


def _distance_bound(length: int, max_distance: float) -> int | None:
    """An edit distance that no word accepted by :func:`correct_text` exceeds, for a text of
    ``length`` characters (None: no bound).

    A word of length n at distance d >= |n - length| is accepted when
    d <= max_distance * max(n, length); for n > length that gives
    d <= max_distance * (length + d), so d <= max_distance * length / (1 - max_distance),
    which also covers n <= length.
    """
    if max_distance >= 1.0:
        return None
    return max(0, math.ceil(max_distance * length / (1.0 - max_distance)))
