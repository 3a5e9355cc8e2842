"""Lexicons and lexicon correction: a predicted word is replaced by its nearest lexicon word.

The distance is the Levenshtein edit distance (insertions, deletions and substitutions of one
character each cost 1) between case-folded words, computed by rapidfuzz (C++): a nearest-word
query is one ``rapidfuzz.process.extractOne`` over the lexicon, with a cut-off on the distance
when the correction has one, so the 90k-word generic lexicon costs a few milliseconds per
query; results are cached per query.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

__all__ = ["Lexicon", "LexiconRules", "correct_text", "edit_distance", "matching_word"]


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


def matching_word(text: str, lexicon: Lexicon, max_distance: float = 1.0) -> str | None:
    """The lexicon word nearest to ``text`` if its *normalised* edit distance
    ``d / max(len(text), len(word))`` is <= ``max_distance`` (in [0, 1]), else None (also for
    an empty lexicon)."""
    found = lexicon.nearest(text, _distance_bound(len(text), max_distance))
    if found is None:
        return None
    word, distance = found
    return word if distance <= max_distance * max(len(text), len(word)) else None


def correct_text(text: str, lexicon: Lexicon | None, max_distance: float = 1.0) -> str:
    """``text`` replaced by its nearest lexicon word when close enough.

    Args:
        text: a predicted transcription.
        lexicon: the lexicon (None or empty: ``text`` is returned unchanged).
        max_distance: the cut-off of :func:`matching_word`. 1.0 always replaces (the
            convention of published lexicon results); 0.0 only fixes case.
    """
    if lexicon is None:
        return text
    word = matching_word(text, lexicon, max_distance)
    return text if word is None else word


@dataclasses.dataclass(frozen=True)
class LexiconRules:
    """How the lexicon modes read a prediction.

    Attributes:
        max_distance: the cut-off of :func:`matching_word` (1.0: the nearest word always
            replaces the reading, the convention of published lexicon results).
        drop_unmatched: a reading with no lexicon word within ``max_distance`` is left out of
            that mode's scoring (the lexicon is the list of allowed answers) instead of being
            scored as read.
        rec_score_thresh: the recognition-score threshold of the lexicon modes; None: the
            lexicon-free one.
    """

    max_distance: float = 1.0
    drop_unmatched: bool = False
    rec_score_thresh: float | None = None

    def read(self, text: str, lexicon: Lexicon | None) -> str | None:
        """The text scored for ``text`` under ``lexicon`` (None: lexicon-free, ``text``), or
        None when the reading is left out."""
        if lexicon is None:
            return text
        word = matching_word(text, lexicon, self.max_distance)
        if word is None and not self.drop_unmatched:
            return text
        return word


def _distance_bound(length: int, max_distance: float) -> int | None:
    """An edit distance that no word accepted by :func:`matching_word` exceeds, for a text of
    ``length`` characters (None: no bound).

    A word of length n at distance d >= |n - length| is accepted when
    d <= max_distance * max(n, length); for n > length that gives
    d <= max_distance * (length + d), so d <= max_distance * length / (1 - max_distance),
    which also covers n <= length.
    """
    if max_distance >= 1.0:
        return None
    return max(0, math.ceil(max_distance * length / (1.0 - max_distance)))
