"""Protocol presets: which lexicon modes a benchmark reports (the columns of the paper's Table 1).

Every preset reports detection, and end-to-end and word spotting for each of its lexicon modes:

* ``ic13``, ``ic15``: ``strong`` (per-image lexicon), ``weak`` (the test set's words),
  ``generic`` (the 90k-word lexicon), and ``none`` (lexicon-free);
* ``totaltext``: ``none`` and ``full`` (the lexicons of all images combined);
* ``plain``: ``none`` only (any other data set, e.g. the synthetic one).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LEXICON_MODES", "PRESETS", "ProtocolPreset", "get_preset", "preset_for_dataset"]

LEXICON_MODES = ("none", "strong", "weak", "generic", "full")


@dataclass(frozen=True)
class ProtocolPreset:
    """A benchmark's protocol: its name and the lexicon modes it reports, in column order."""

    name: str
    lexicon_modes: tuple[str, ...]

    def with_modes(self, modes: tuple[str, ...] | list[str]) -> ProtocolPreset:
        """The same preset restricted to ``modes`` (each must be one of :data:`LEXICON_MODES`)."""
        unknown = [m for m in modes if m not in LEXICON_MODES]
        if unknown:
            raise ValueError(f"unknown lexicon mode(s) {unknown}; choose from {LEXICON_MODES}")
        return ProtocolPreset(self.name, tuple(modes))


PRESETS = {
    "ic13": ProtocolPreset("ic13", ("none", "strong", "weak", "generic")),
    "ic15": ProtocolPreset("ic15", ("none", "strong", "weak", "generic")),
    "totaltext": ProtocolPreset("totaltext", ("none", "full")),
    "plain": ProtocolPreset("plain", ("none",)),
}

# Substrings of data-set names that select a preset, checked in this order.
_NAME_HINTS = (
    ("totaltext", "totaltext"),
    ("total_text", "totaltext"),
    ("ic13", "ic13"),
    ("icdar2013", "ic13"),
    ("ic15", "ic15"),
    ("icdar2015", "ic15"),
)


def get_preset(name: str) -> ProtocolPreset:
    """The preset called ``name`` (one of :data:`PRESETS`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown protocol {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name]


def preset_for_dataset(dataset_name: str, metadata_protocol: str | None = None) -> ProtocolPreset:
    """The preset of a data set: its metadata's ``protocol`` when set, else the first name hint
    (``ic13``/``icdar2013``, ``ic15``/``icdar2015``, ``totaltext``/``total_text``) found in
    its lower-cased name, else ``plain``."""
    if metadata_protocol:
        return get_preset(metadata_protocol)
    lowered = dataset_name.lower()
    for hint, preset in _NAME_HINTS:
        if hint in lowered:
            return PRESETS[preset]
    return PRESETS["plain"]
