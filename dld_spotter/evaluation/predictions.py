"""Model outputs -> plain prediction records (the predictions-file format).

One record per detected word, JSON-serialisable::

    {"image_id": int | None, "file_name": str | None,
     "polygon": [x1, y1, x2, y2, ...],   # >= 3 points, original image coordinates
     "box": [x1, y1, x2, y2],            # XYXY, absolute
     "score": float,                     # detection confidence
     "text": str,                        # transcription ("" when the model has no recognizer)
     "text_score": float}                # recognition confidence in [0, 1] (0 without recognizer)

Coordinates are continuous: pixel (i, j) covers [j, j+1) x [i, i+1). The polygon is the outline
of the predicted mask; when the mask is absent or empty it is the box's 4 corners (clockwise
from the top-left). The evaluator and the demo both use these records; the demo writes them as
a JSON list.
"""
from __future__ import annotations

import json
import math
import os

import cv2
import numpy as np
from detectron2.structures import Instances

__all__ = ["check_scores", "instances_to_records", "mask_to_polygon", "read_predictions"]

SCORE_KEYS = ("score", "text_score")
_SCORE_SLACK = 1e-6  # float rounding of a model's confidences

# approxPolyDP tolerance, as a fraction of the contour's perimeter.
_SIMPLIFY_EPSILON = 0.005


def mask_to_polygon(mask: np.ndarray) -> list[float] | None:
    """Outline of the largest connected region of a binary mask.

    Args:
        mask: (H, W) array, nonzero = foreground.

    Returns:
        ``[x1, y1, x2, y2, ...]`` with at least 3 points (at least 4 whenever the outer contour
        has 4), lightly simplified with ``cv2.approxPolyDP``; None when the mask is empty or its
        largest region is thinner than 3 contour points.
    """
    contours, _ = cv2.findContours(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    if len(contour) < 3:
        return None
    epsilon = _SIMPLIFY_EPSILON * cv2.arcLength(contour, closed=True)
    simplified = cv2.approxPolyDP(contour, epsilon, closed=True)
    while len(simplified) < min(4, len(contour)) and epsilon > 0.1:
        epsilon /= 2
        simplified = cv2.approxPolyDP(contour, epsilon, closed=True)
    if len(simplified) < min(4, len(contour)):
        simplified = contour
    # Contour points are pixel indices; +0.5 moves them to pixel centres.
    return (simplified.reshape(-1, 2).astype(np.float64) + 0.5).ravel().tolist()


def _box_corners(box: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def instances_to_records(
    instances: Instances, image_id: int | None = None, file_name: str | None = None
) -> list[dict]:
    """Convert an image's predicted :class:`Instances` (on CPU) to prediction records.

    Args:
        instances: N predictions with ``pred_boxes`` and ``scores``; optionally ``pred_masks``
            ((N, H, W) bool, or probabilities thresholded at 0.5), ``pred_texts`` (list[str]) and
            ``text_scores`` ((N,)).
        image_id, file_name: copied into every record.

    Returns:
        N records in the format of this module's docstring.
    """
    boxes = instances.pred_boxes.tensor.numpy()
    scores = instances.scores.numpy()
    num = len(instances)
    masks = instances.pred_masks.numpy() if instances.has("pred_masks") else None
    if masks is not None and masks.dtype != bool:
        masks = masks >= 0.5
    texts = instances.pred_texts if instances.has("pred_texts") else [""] * num
    text_scores = (
        instances.text_scores.numpy() if instances.has("text_scores") else np.zeros(num)
    )
    records = []
    for i in range(num):
        polygon = mask_to_polygon(masks[i]) if masks is not None else None
        records.append(
            {
                "image_id": image_id,
                "file_name": file_name,
                "polygon": polygon if polygon is not None else _box_corners(boxes[i]),
                "box": [float(v) for v in boxes[i]],
                "score": float(scores[i]),
                "text": str(texts[i]),
                "text_score": float(text_scores[i]),
            }
        )
    return records


def check_scores(records: list, source: str) -> None:
    """Raise ``ValueError`` naming ``source`` and the first offending record when a record's
    ``score`` or ``text_score`` is a number outside [0, 1] (or NaN): such records (logits,
    percentages) would be scored silently wrong: a ``text_score`` below
    ``rec_score_thresh`` drops the reading from end to end. Records that are no objects or
    whose scores are no numbers are left to :func:`.text_evaluator.validate_records`."""
    bad = []
    for k, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        for key in SCORE_KEYS:
            value = record.get(key)
            if (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and not (math.isfinite(value)
                             and -_SCORE_SLACK <= value <= 1.0 + _SCORE_SLACK)):
                bad.append((k, record, key, value))
                break
    if bad:
        k, record, key, value = bad[0]
        image = record.get("file_name") or record.get("image_id")
        raise ValueError(
            f"{source}: {len(bad)} of {len(records)} prediction records have a score outside "
            f"[0, 1], the first is record #{k} (image {image}): {key} {value!r}. 'score' and "
            "'text_score' are confidences in [0, 1] (dld_spotter/evaluation/README.md); convert "
            "logits or percentages before scoring"
        )


def read_predictions(json_file: str) -> list:
    """The records of a predictions file (a JSON list); errors name the file, and the first
    record whose ``score`` or ``text_score`` is outside [0, 1] (:func:`check_scores`)."""
    if not os.path.isfile(json_file):
        raise FileNotFoundError(f"predictions file {json_file} does not exist")
    with open(json_file, encoding="utf-8") as f:
        try:
            records = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{json_file}: not valid JSON ({e})") from e
    if not isinstance(records, list):
        raise ValueError(f"{json_file}: must be a JSON list of prediction records")
    check_scores(records, json_file)
    return records
