"""Character set: maps transcriptions to class indices and back.

Class 0 is end-of-sequence (EOS); classes ``1..len(chars)`` are the characters. Target
tensors are ``(N, max_length + 1)``: the word, one EOS, then ``IGNORE`` (-1) padding, so
they can go straight into ``F.cross_entropy(..., ignore_index=IGNORE)``. A transcription
that cannot be encoded (a character outside the set, or longer than ``max_length``) gives
an all-``IGNORE`` row: the instance still trains detection, never recognition, and the
reason is counted in :class:`EncodeStats` so callers can report it instead of losing it.
"""
from __future__ import annotations

import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence

import torch

EOS = 0
IGNORE = -1
DEFAULT_CHARS = "".join(chr(c) for c in range(32, 127))  # the 95 printable ASCII characters
assert len(DEFAULT_CHARS) == 95 and set(string.ascii_letters) <= set(DEFAULT_CHARS)


@dataclass
class EncodeStats:
    """What :meth:`Charset.encode_batch` could not encode, for reporting."""

    unknown_chars: Counter = field(default_factory=Counter)
    num_unknown_words: int = 0
    num_too_long: int = 0

    def update(self, other: EncodeStats) -> None:
        self.unknown_chars.update(other.unknown_chars)
        self.num_unknown_words += other.num_unknown_words
        self.num_too_long += other.num_too_long

    def __bool__(self) -> bool:
        return bool(self.num_unknown_words or self.num_too_long)

    def summary(self) -> str:
        chars = "".join(sorted(self.unknown_chars))
        return (
            f"{self.num_unknown_words} word(s) with characters outside the charset ({chars!r}), "
            f"{self.num_too_long} word(s) longer than the maximum length; "
            "they train detection only"
        )


class Charset:
    """Characters a recognizer can read.

    Args:
        chars: the characters, in class order (class ``i + 1`` is ``chars[i]``).
        max_length: longest word in characters, without EOS.
        case_sensitive: if False, texts are lower-cased before encoding and ``chars`` must
            hold no upper-case letters.
    """

    def __init__(
        self, chars: str = DEFAULT_CHARS, max_length: int = 25, case_sensitive: bool = True
    ):
        if len(set(chars)) != len(chars):
            dup = sorted(c for c, n in Counter(chars).items() if n > 1)
            raise ValueError(f"Charset has duplicate characters: {dup!r}")
        if not chars:
            raise ValueError("Charset is empty")
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.chars = chars
        self.max_length = max_length
        self.case_sensitive = case_sensitive
        self._index = {c: i + 1 for i, c in enumerate(chars)}

    @classmethod
    def from_file(cls, path: str, max_length: int = 25, case_sensitive: bool = True) -> Charset:
        """One character per line (UTF-8); a line holding a single space is the space."""
        try:
            with open(path, encoding="utf-8-sig") as f:
                lines = f.read().split("\n")
        except OSError as e:
            raise FileNotFoundError(
                f"Charset file {path!r} cannot be read ({e}); set MODEL.TEXT.CHARSET_FILE to a "
                "UTF-8 file with one character per line, or leave it empty for printable ASCII"
            ) from e
        chars = []
        for lineno, line in enumerate(lines, 1):
            line = line.rstrip("\r")
            if line == "":
                continue
            if len(line) != 1:
                raise ValueError(f"{path}:{lineno}: expected one character per line, got {line!r}")
            chars.append(line)
        return cls("".join(chars), max_length, case_sensitive)

    @property
    def num_classes(self) -> int:
        """Output classes of the decoder: the characters plus EOS."""
        return len(self.chars) + 1

    @property
    def seq_length(self) -> int:
        """Decoding steps: ``max_length`` characters plus EOS."""
        return self.max_length + 1

    def normalize(self, text: str) -> str:
        return text if self.case_sensitive else text.lower()

    def encode(self, text: str) -> Optional[List[int]]:
        """Class indices of ``text`` (without EOS), or None if it cannot be encoded."""
        text = self.normalize(text)
        if len(text) > self.max_length or any(c not in self._index for c in text):
            return None
        return [self._index[c] for c in text]

    def encode_batch(self, texts: Sequence[str]) -> tuple[torch.Tensor, EncodeStats]:
        """Targets ``(N, max_length + 1)`` long; rows that cannot be encoded are all IGNORE."""
        out = torch.full((len(texts), self.seq_length), IGNORE, dtype=torch.long)
        stats = EncodeStats()
        for row, text in enumerate(texts):
            text = self.normalize(text)
            unknown = [c for c in text if c not in self._index]
            if unknown:
                stats.unknown_chars.update(unknown)
                stats.num_unknown_words += 1
                continue
            if len(text) > self.max_length:
                stats.num_too_long += 1
                continue
            ids = [self._index[c] for c in text]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
            out[row, len(ids)] = EOS
        return out, stats

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a class-index sequence, stopping at the first EOS."""
        chars = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i < 0:
                continue
            chars.append(self.chars[i - 1])
        return "".join(chars)

    def decode_batch(self, ids: torch.Tensor) -> List[str]:
        """Texts of ``(N, T)`` class indices."""
        return [self.decode(row) for row in ids.tolist()]

    def __len__(self) -> int:
        return len(self.chars)

    def __repr__(self) -> str:
        return (
            f"Charset({len(self.chars)} chars, max_length={self.max_length}, "
            f"case_sensitive={self.case_sensitive})"
        )


def build_charset(cfg) -> Charset:
    """The charset that ``cfg.MODEL.TEXT`` describes."""
    t = cfg.MODEL.TEXT
    if t.CHARSET_FILE:
        return Charset.from_file(t.CHARSET_FILE, t.MAX_LENGTH, t.CASE_SENSITIVE)
    return Charset(t.CHARSET or DEFAULT_CHARS, t.MAX_LENGTH, t.CASE_SENSITIVE)
