"""Lexicons and lexicon correction: a predicted word is replaced by its nearest lexicon word.

The distance is the Levenshtein edit distance (insertions, deletions and substitutions of one
character each cost 1) between case-folded words. :class:`Lexicon` computes it against every
word of a lexicon at once with numpy, one query character at a time, and searches lengths in
order of their difference to the query's (a lower bound of the distance), so the 90k-word
generic lexicon costs milliseconds per query; results are cached per query.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["Lexicon", "correct_text", "edit_distance"]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (case-sensitive)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _distances_to(query: str, codes: np.ndarray) -> np.ndarray:
    """Edit distances from ``query`` to L words of equal length n, given as code points.

    Args:
        codes: (n, L) int array: column k holds word k.

    Returns:
        (L,) int array.

    One dynamic-programming row per query character, for all L words at once. In row i,
    ``d[j] = min(d_prev[j] + 1, d_prev[j-1] + cost_j, d[j-1] + 1)``; the last term chains
    along j, and ``d[j] = j + cummin_k<=j(a[k] - k)`` (a = the first two terms) resolves it
    without a Python loop over j.
    """
    n, num = codes.shape
    steps = np.arange(n + 1, dtype=np.int32)[:, None]
    row = np.broadcast_to(steps, (n + 1, num))
    a = np.empty((n + 1, num), dtype=np.int32)
    for i, char in enumerate(query, start=1):
        a[0] = i
        np.minimum(row[1:] + 1, row[:-1] + (codes != ord(char)), out=a[1:])
        a -= steps
        row = np.minimum.accumulate(a, axis=0)
        row += steps
    return row[n]


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
        by_length: dict[int, list[int]] = {}
        for index, key in enumerate(first):
            by_length.setdefault(len(key), []).append(index)
        keys = list(first)
        # length n -> (indices into self.words, (n, L) code points of the folded words)
        self._buckets = {
            n: (
                np.asarray(idx),
                np.array([[ord(c) for c in keys[i]] for i in idx], dtype=np.int32)
                .reshape(len(idx), n)
                .T.copy(),
            )
            for n, idx in by_length.items()
        }
        self._cache: dict[str, tuple[str, int]] = {}

    def __len__(self) -> int:
        return len(self.words)

    def nearest(self, word: str) -> tuple[str, int] | None:
        """The lexicon word nearest to ``word`` and its edit distance (ties: the word that
        comes first in the lexicon); None for an empty lexicon."""
        if not self.words:
            return None
        query = word.casefold()
        if query in self._cache:
            return self._cache[query]
        best_distance, best_index = None, None
        for n in sorted(self._buckets, key=lambda n: (abs(n - len(query)), n)):
            # |n - len(query)| is a lower bound on the distance to words of length n.
            if best_distance is not None and abs(n - len(query)) > best_distance:
                break
            indices, codes = self._buckets[n]
            distances = _distances_to(query, codes)
            k = np.lexsort((indices, distances))[0]
            candidate = (int(distances[k]), int(indices[k]))
            if best_distance is None or candidate < (best_distance, best_index):
                best_distance, best_index = candidate
        result = (self.words[best_index], best_distance)
        self._cache[query] = result
        return result


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
    found = lexicon.nearest(text) if lexicon is not None else None
    if found is None:
        return text
    word, distance = found
    length = max(len(text), len(word))
    return word if distance <= max_distance * length else text
