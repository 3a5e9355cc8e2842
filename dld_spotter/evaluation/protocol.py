"""ICDAR Robust Reading style scoring of one image, and its accumulation over a data set.

Pure functions on polygons and strings (numpy + shapely) that follow the official RRC end-to-end
script (ICDAR 2015 task 4.4) by default. The rules, and where ours differ from it, are written
out in ``dld_spotter/evaluation/README.md``; in short:

* transcriptions lose one pair of surrounding double quotes (:func:`unquote`), as the RRC
  parser reads them;
* a ground truth is *don't-care* when its ``ignore`` flag is set or its text is ``"###"``, and
  in word-spotting mode also when it is not a dictionary word (:func:`is_dictionary_word`);
* a prediction is *dropped* (neither true nor false positive) when more than
  ``dont_care_area_threshold`` of its area lies inside one don't-care region;
* the remaining predictions are matched one-to-one to the care ground truths with
  IoU > ``iou_threshold`` (strictly); ``matching="official"``: ground truths in order, each
  taking the first unused prediction in input order, and only then is the text judged;
  ``matching="best"``: pairs with a correct text first, then the highest IoU;
* in end-to-end mode a reading is correct when it equals the ground truth ignoring case, after
  dropping at most one of the RRC special characters from its start and one from its end; in
  word-spotting mode it must equal the ground truth's :func:`dictionary_form`, ignoring case.

A polygon is a flat list ``[x1, y1, x2, y2, ...]`` or an array of shape (K, 2), K >= 3; a
ground-truth region may also be a shapely geometry (the union of an annotation's polygons).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Union

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ..data.formats import DONT_CARE

__all__ = [
    "MATCHING_ORDERS",
    "RRC_SPECIAL_CHARACTERS",
    "ImageResult",
    "Match",
    "Protocol",
    "accumulate",
    "dictionary_form",
    "evaluate_image",
    "is_dictionary_word",
    "to_geometry",
    "unquote",
]

PolygonLike = Union[Sequence[float], np.ndarray]  # evaluated at import: no `|` on 3.9


# Characters that RRC allows an end-to-end reading to leave out at either end of a ground-truth
# word, and that its dictionary rule turns into spaces.
RRC_SPECIAL_CHARACTERS = "!?.:,*\"()·[]/'"

# "official": the RRC script's greedy order; "best": correct texts first, then highest IoU.
MATCHING_ORDERS = ("official", "best")

_TO_SPACES = str.maketrans(dict.fromkeys(RRC_SPECIAL_CHARACTERS, " "))
_MIN_WORD_LENGTH = 3
# The characters of a dictionary word: a-z, A-Z, À-ƿ (U+00C0-U+01BF) except × and ÷, Ǆ-ɿ
# (U+01C4-U+027F), Ά-Ͽ (U+0386-U+03FF) and "-".
_WORD = re.compile("[a-zA-Z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01bf\u01c4-\u027f\u0386-\u03ff-]+")


def unquote(text: str) -> str:
    """``text`` without one pair of surrounding double quotes (``'"SALE"'`` -> ``'SALE'``),
    as the RRC parser reads a transcription; any other text unchanged."""
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def dictionary_form(text: str) -> str:
    """The RRC word-spotting rewrite of a ground-truth transcription: a trailing ``'s`` or
    ``'S`` dropped, hyphens stripped from both ends, each special character replaced by a
    space, then surrounding whitespace stripped (``"cafe's"`` -> ``"cafe"``, ``"sale!!"`` ->
    ``"sale"``)."""
    if text.endswith(("'s", "'S")):
        text = text[:-2]
    return text.strip("-").translate(_TO_SPACES).strip()


def is_dictionary_word(text: str) -> bool:
    """The RRC word-spotting "care" rule: the :func:`dictionary_form` of ``text`` has at least
    3 characters, no space inside, and only Latin, Greek and ``-`` characters (the ranges
    a-z, A-Z, À-ƿ without × and ÷, Ǆ-ɿ, Ά-Ͽ; digits and other scripts are not words)."""
    word = dictionary_form(text)
    return len(word) >= _MIN_WORD_LENGTH and _WORD.fullmatch(word) is not None


@dataclass(frozen=True)
class Protocol:
    """Settings of the scoring rules; the defaults are those of the official RRC script.

    Attributes:
        iou_threshold: a prediction and a ground truth match when their IoU is strictly above it.
        dont_care_area_threshold: a prediction is dropped when the fraction of its area inside
            one don't-care region is strictly above it.
        case_sensitive: compare transcriptions with case (False: upper-case both sides).
        dont_care_text: a ground-truth transcription that marks a don't-care region.
        special_characters: in end-to-end mode, one of these may be missing from the start and
            one from the end of a correct reading of a ground-truth word ("" turns it off).
        word_spotting: ground-truth words that are not dictionary words
            (:func:`is_dictionary_word`) are don't-care, and a reading must equal the
            :func:`dictionary_form` of its ground truth.
        matching: the order of the one-to-one matching, one of :data:`MATCHING_ORDERS`.
    """

    iou_threshold: float = 0.5
    dont_care_area_threshold: float = 0.5
    case_sensitive: bool = False
    dont_care_text: str = DONT_CARE
    special_characters: str = RRC_SPECIAL_CHARACTERS
    word_spotting: bool = False
    matching: str = "official"

    def __post_init__(self):
        if self.matching not in MATCHING_ORDERS:
            raise ValueError(f"unknown matching {self.matching!r}; choose from {MATCHING_ORDERS}")
        for name in ("iou_threshold", "dont_care_area_threshold"):
            value = getattr(self, name)
            # IoU and area fractions lie in [0, 1], and "strictly above 1" matches nothing.
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ValueError(f"Protocol {name} must be a number in [0, 1), got {value!r}: "
                                 "an IoU or area fraction is at most 1, and 'strictly above' "
                                 "1 would match nothing")

    def is_dont_care(self, text: str, ignore: bool) -> bool:
        """Whether a ground truth with this transcription and ignore flag is don't-care."""
        if bool(ignore) or text == self.dont_care_text:
            return True
        return self.word_spotting and not is_dictionary_word(text)

    def normalize_text(self, text: str) -> str:
        """The form of a transcription that is compared."""
        return text if self.case_sensitive else text.upper()

    def correct_readings(self, gt_text: str) -> set[str]:
        """The normalised readings that count as correct for a ground-truth transcription.

        Word spotting: its :func:`dictionary_form` only. End to end: the text itself, and
        without a special character at its start, at its end, or at both.
        """
        if self.word_spotting:
            return {self.normalize_text(dictionary_form(gt_text))}
        gt = self.normalize_text(gt_text)
        head = bool(gt) and gt[0] in self.special_characters
        tail = bool(gt) and gt[-1] in self.special_characters
        readings = {gt}
        if head:
            readings.add(gt[1:])
        if tail:
            readings.add(gt[:-1])
        if head and tail:
            readings.add(gt[1:-1])
        return readings

    def transcription_matches(self, pred_text: str, gt_text: str) -> bool:
        """Whether a predicted transcription reads the ground truth correctly."""
        return self.normalize_text(pred_text) in self.correct_readings(gt_text)


@dataclass(frozen=True)
class Match:
    """A matched (ground truth, prediction) pair; indices into the lists given to
    :func:`evaluate_image`. ``text_correct`` is None in detection mode."""

    gt_index: int
    pred_index: int
    iou: float
    text_correct: bool | None = None


@dataclass
class ImageResult:
    """Counts of one image.

    Attributes:
        num_gt_care: ground truths that count in recall.
        num_gt_dont_care: don't-care ground truths.
        num_pred: predictions that count in precision (all minus the dropped ones).
        num_pred_dropped: predictions dropped on don't-care regions.
        num_tp: true positives (in end-to-end mode: matches with a correct transcription).
        matches: every one-to-one match; in end-to-end mode also those with a wrong text.
        dropped: indices of the dropped predictions.
        dont_care: indices of the don't-care ground truths.
    """

    num_gt_care: int = 0
    num_gt_dont_care: int = 0
    num_pred: int = 0
    num_pred_dropped: int = 0
    num_tp: int = 0
    matches: list[Match] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    dont_care: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The integer counts, as a JSON-friendly dict."""
        return {
            "num_gt_care": self.num_gt_care,
            "num_gt_dont_care": self.num_gt_dont_care,
            "num_pred": self.num_pred,
            "num_pred_dropped": self.num_pred_dropped,
            "num_tp": self.num_tp,
        }


def to_geometry(polygon: PolygonLike) -> BaseGeometry:
    """A valid shapely geometry for ``polygon``: self-intersecting or otherwise invalid rings are
    repaired with ``shapely.make_valid`` and only their areal parts are kept (a degenerate polygon,
    e.g. with collinear points, becomes an empty geometry of area 0).

    Raises:
        ValueError: when ``polygon`` has fewer than 3 points or an odd number of coordinates.
    """
    coords = np.asarray(polygon, dtype=np.float64)
    if coords.ndim == 1:
        if coords.size % 2:
            raise ValueError(f"polygon has an odd number of coordinates ({coords.size})")
        coords = coords.reshape(-1, 2)
    if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) < 3:
        raise ValueError(
            f"polygon needs at least 3 (x, y) points, got shape {tuple(coords.shape)}"
        )
    if not np.isfinite(coords).all():
        raise ValueError("polygon has non-finite coordinates")
    geometry = Polygon(coords)
    if geometry.is_valid:
        return geometry
    repaired = shapely.make_valid(geometry)
    parts = getattr(repaired, "geoms", [repaired])
    return MultiPolygon([p for p in parts if isinstance(p, Polygon) and not p.is_empty])


def _as_geometry(polygon: PolygonLike | BaseGeometry) -> BaseGeometry:
    return polygon if isinstance(polygon, BaseGeometry) else to_geometry(polygon)


def _geometries(polygons: Sequence[PolygonLike | BaseGeometry], kind: str) -> np.ndarray:
    """An object array of geometries; errors name the offending index."""
    out = np.empty(len(polygons), dtype=object)
    for i, polygon in enumerate(polygons):
        try:
            out[i] = _as_geometry(polygon)
        except ValueError as e:
            raise ValueError(f"{kind} #{i}: {e}") from e
    return out


def _overlaps(gts: np.ndarray, preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(G, P) IoU matrix of two object arrays of geometries, and the (G, P) fraction of each
    prediction's area inside each ground truth (0 for predictions of zero area)."""
    if len(gts) == 0 or len(preds) == 0:
        return np.zeros((len(gts), len(preds))), np.zeros((len(gts), len(preds)))
    inter = shapely.area(shapely.intersection(gts[:, None], preds[None, :]))
    pred_area = np.broadcast_to(shapely.area(preds)[None, :], inter.shape)
    union = shapely.area(gts)[:, None] + pred_area - inter
    iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    inside = np.divide(inter, pred_area, out=np.zeros_like(inter), where=pred_area > 0)
    return iou, inside


def evaluate_image(
    gt_polygons: Sequence[PolygonLike | BaseGeometry],
    gt_texts: Sequence[str],
    gt_ignore: Sequence[bool],
    pred_polygons: Sequence[PolygonLike],
    pred_texts: Sequence[str] | None = None,
    pred_scores: Sequence[float] | None = None,
    protocol: Protocol = Protocol(),
    *,
    end_to_end: bool = False,
) -> ImageResult:
    """Score the predictions of one image against its ground truth.

    Args:
        gt_polygons, gt_texts, gt_ignore: G ground truths, in file order; a region is a
            polygon or a shapely geometry.
        pred_polygons, pred_texts, pred_scores: P predictions, in file order (the official
            matching takes them in this order); ``pred_texts`` is needed only in end-to-end
            mode; ``pred_scores`` (default: all equal) break IoU ties of ``matching="best"``,
            higher first.
        protocol: the scoring rules.
        end_to_end: detection (False) or end-to-end (True) scoring.

    Raises:
        ValueError: on a polygon with fewer than 3 points (the message names its index), or on
            lists of different lengths.
    """
    num_gt, num_pred = len(gt_polygons), len(pred_polygons)
    if len(gt_texts) != num_gt or len(gt_ignore) != num_gt:
        raise ValueError(
            f"{num_gt} ground-truth polygons but {len(gt_texts)} texts and "
            f"{len(gt_ignore)} ignore flags"
        )
    if end_to_end and (pred_texts is None or len(pred_texts) != num_pred):
        raise ValueError(f"end-to-end scoring needs one text per prediction ({num_pred})")
    scores = np.zeros(num_pred) if pred_scores is None else np.asarray(pred_scores, dtype=float)
    if len(scores) != num_pred:
        raise ValueError(f"{num_pred} predicted polygons but {len(scores)} scores")

    gts = _geometries(gt_polygons, "ground-truth polygon")
    preds = _geometries(pred_polygons, "predicted polygon")
    gt_texts = [unquote(t) for t in gt_texts]
    dont_care = np.array(
        [protocol.is_dont_care(t, ig) for t, ig in zip(gt_texts, gt_ignore)], dtype=bool
    ).reshape(num_gt)
    iou, inside = _overlaps(gts, preds)

    # Drop the predictions that lie mostly inside one don't-care region.
    dropped = (inside[dont_care] > protocol.dont_care_area_threshold).any(axis=0)

    # Greedy one-to-one matching of care ground truths and kept predictions; np.nonzero lists
    # the candidate pairs by ground truth, then prediction: the official order.
    gt_idx, pred_idx = np.nonzero(
        (iou > protocol.iou_threshold) & ~dont_care[:, None] & ~dropped[None, :]
    )
    correct = np.array(
        [
            end_to_end
            and protocol.transcription_matches(unquote(pred_texts[p]), gt_texts[g])
            for g, p in zip(gt_idx, pred_idx)
        ],
        dtype=bool,
    )
    pair_iou = iou[gt_idx, pred_idx]
    order = np.arange(len(gt_idx))
    if protocol.matching == "best":
        # np.lexsort sorts by its last key first: correct text, then IoU, then score, descending.
        order = np.lexsort((-scores[pred_idx], -pair_iou, -correct.astype(int)))
    gt_used, pred_used = np.zeros(num_gt, dtype=bool), np.zeros(num_pred, dtype=bool)
    matches = []
    for k in order:
        g, p = gt_idx[k], pred_idx[k]
        if gt_used[g] or pred_used[p]:
            continue
        gt_used[g] = pred_used[p] = True
        matches.append(
            Match(int(g), int(p), float(pair_iou[k]), bool(correct[k]) if end_to_end else None)
        )

    return ImageResult(
        num_gt_care=int((~dont_care).sum()),
        num_gt_dont_care=int(dont_care.sum()),
        num_pred=int((~dropped).sum()),
        num_pred_dropped=int(dropped.sum()),
        num_tp=sum(1 for m in matches if m.text_correct is not False),
        matches=matches,
        dropped=[int(i) for i in np.nonzero(dropped)[0]],
        dont_care=[int(i) for i in np.nonzero(dont_care)[0]],
    )


def accumulate(results: Sequence[ImageResult]) -> dict[str, float]:
    """Data-set metrics from per-image results.

    Returns:
        dict with ``precision`` = TP / kept predictions, ``recall`` = TP / care ground truths,
        ``hmean`` = 2PR / (P + R) (each 0 when its denominator is 0), as fractions in [0, 1],
        and the summed counts ``num_tp``, ``num_pred``, ``num_gt``.
    """
    num_tp = sum(r.num_tp for r in results)
    num_pred = sum(r.num_pred for r in results)
    num_gt = sum(r.num_gt_care for r in results)
    precision = num_tp / num_pred if num_pred else 0.0
    recall = num_tp / num_gt if num_gt else 0.0
    hmean = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "hmean": hmean,
        "num_tp": num_tp,
        "num_pred": num_pred,
        "num_gt": num_gt,
    }

