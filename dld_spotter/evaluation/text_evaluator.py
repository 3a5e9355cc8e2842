"""Detectron2 evaluator for text spotting: detection and end-to-end (lexicon-free) P / R / Hmean."""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from collections import OrderedDict, defaultdict
from collections.abc import Sequence

from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import create_small_table

from .predictions import instances_to_records
from .protocol import ImageResult, Protocol, accumulate, evaluate_image

__all__ = ["TextSpottingEvaluator", "evaluate_records"]

logger = logging.getLogger(__name__)


def _ground_truth(dataset_dict: dict) -> tuple[list, list[str], list[bool]]:
    """(polygons, texts, ignore flags) of one dataset dict; errors name the image file."""
    polygons, texts, ignore = [], [], []
    for k, ann in enumerate(dataset_dict.get("annotations", [])):
        segmentation = ann.get("segmentation")
        if not isinstance(segmentation, list) or len(segmentation) != 1:
            raise ValueError(
                f"{dataset_dict['file_name']}: annotation #{k} must have exactly one polygon "
                f"in 'segmentation' ([[x1, y1, ...]]), got {segmentation!r}; fix the dataset JSON"
            )
        if "text" not in ann:
            raise ValueError(
                f"{dataset_dict['file_name']}: annotation #{k} has no 'text'; "
                "use '###' with ignore=1 for a don't-care region"
            )
        polygons.append(segmentation[0])
        texts.append(ann["text"])
        ignore.append(bool(ann.get("ignore", 0)))
    return polygons, texts, ignore


def _score(
    gt: tuple[list, list[str], list[bool]],
    records: Sequence[dict],
    protocol: Protocol,
    end_to_end: bool,
    file_name: str,
) -> ImageResult:
    try:
        return evaluate_image(
            *gt,
            [r["polygon"] for r in records],
            [r["text"] for r in records],
            [r["score"] for r in records],
            protocol,
            end_to_end=end_to_end,
        )
    except ValueError as e:
        raise ValueError(f"{file_name}: {e}; fix the ground truth or the predictions") from e


def evaluate_records(
    dataset_dicts: Sequence[dict],
    records: Sequence[dict],
    image_ids: Sequence | None = None,
    protocol: Protocol | None = None,
    rec_score_thresh: float = 0.0,
) -> dict:
    """Score prediction records (see :mod:`.predictions`) against detectron2 dataset dicts.

    Args:
        dataset_dicts: the ground truth (dicts with ``image_id``, ``file_name``, ``annotations``).
        records: predictions, matched to images by ``image_id``.
        image_ids: the images to score (default: every image of ``dataset_dicts``); an image
            without records counts its ground truths as misses.
        protocol: the scoring rules (default :class:`Protocol`).
        rec_score_thresh: records with ``text_score`` below it are left out of end-to-end
            scoring (detection keeps them).

    Returns:
        ``{"detection": metrics, "end_to_end": metrics, "images": [per-image counts],
        "num_unknown_predictions": int}``; metrics as :func:`accumulate` returns them (fractions).
    """
    protocol = protocol or Protocol()
    gt_by_id = {d["image_id"]: d for d in dataset_dicts}
    by_image = defaultdict(list)
    for r in records:
        by_image[r["image_id"]].append(r)
    image_ids = list(gt_by_id) if image_ids is None else list(dict.fromkeys(image_ids))
    unknown_images = (set(image_ids) | set(by_image)) - set(gt_by_id)
    num_unknown = sum(len(by_image.get(i, [])) for i in unknown_images)
    if unknown_images:
        logger.warning(
            f"{len(unknown_images)} images with {num_unknown} predictions are not in the ground "
            "truth; they are not scored"
        )
    image_ids = [i for i in image_ids if i in gt_by_id]

    det_results, e2e_results, images = [], [], []
    for image_id in image_ids:
        dataset_dict = gt_by_id[image_id]
        file_name = dataset_dict["file_name"]
        gt = _ground_truth(dataset_dict)
        preds = by_image.get(image_id, [])
        read = [r for r in preds if r["text_score"] >= rec_score_thresh]
        det = _score(gt, preds, protocol, False, file_name)
        e2e = _score(gt, read, protocol, True, file_name)
        det_results.append(det)
        e2e_results.append(e2e)
        images.append(
            {
                "image_id": image_id,
                "file_name": file_name,
                "detection": det.counts(),
                "end_to_end": e2e.counts(),
            }
        )
    return {
        "detection": accumulate(det_results),
        "end_to_end": accumulate(e2e_results),
        "images": images,
        "num_unknown_predictions": num_unknown,
    }


class TextSpottingEvaluator(DatasetEvaluator):
    """Detection and end-to-end (lexicon-free) precision / recall / Hmean of a text spotter,
    under the rules of :mod:`.protocol`.

    Only the images that went through :meth:`process` are scored. With ``output_dir``,
    :meth:`evaluate` writes ``text_predictions.json`` (the records) and ``text_results.json``
    (metrics, protocol and per-image counts) there.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        distributed: bool = True,
        rec_score_thresh: float = 0.0,
        protocol: Protocol | None = None,
    ):
        """
        Args:
            dataset_name: a name registered in ``DatasetCatalog`` (dicts with ``annotations``
                holding ``segmentation``, ``text`` and ``ignore``).
            output_dir: where to write the JSON files (None: write nothing).
            distributed: gather the predictions of every process on the main one.
            rec_score_thresh: recognition-score threshold applied before end-to-end scoring.
            protocol: the scoring rules (default :class:`Protocol`: IoU > 0.5, case-insensitive).
        """
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._distributed = distributed
        self._rec_score_thresh = rec_score_thresh
        self._protocol = protocol or Protocol()
        self.reset()

    def reset(self):
        self._image_ids = []
        self._records = []

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            self._image_ids.append(inp["image_id"])
            instances = out["instances"].to("cpu")
            self._records.extend(
                instances_to_records(
                    instances, image_id=inp["image_id"], file_name=inp.get("file_name")
                )
            )

    def evaluate(self):
        image_ids, records = self._image_ids, self._records
        if self._distributed:
            comm.synchronize()
            image_ids = list(itertools.chain(*comm.gather(image_ids, dst=0)))
            records = list(itertools.chain(*comm.gather(records, dst=0)))
            if not comm.is_main_process():
                return {}
        if not image_ids:
            logger.warning(f"[TextSpottingEvaluator] {self._dataset_name}: nothing was processed")
            return {}

        results = evaluate_records(
            DatasetCatalog.get(self._dataset_name),
            records,
            image_ids,
            self._protocol,
            self._rec_score_thresh,
        )

        if self._output_dir:
            PathManager.mkdirs(self._output_dir)
            path = os.path.join(self._output_dir, "text_predictions.json")
            with PathManager.open(path, "w") as f:
                json.dump(records, f)
            path = os.path.join(self._output_dir, "text_results.json")
            with PathManager.open(path, "w") as f:
                json.dump(
                    {
                        "dataset": self._dataset_name,
                        "protocol": dataclasses.asdict(self._protocol),
                        "rec_score_thresh": self._rec_score_thresh,
                        **results,
                    },
                    f,
                    indent=1,
                )

        metrics = {
            f"{prefix}_{name}": 100.0 * results[task][name]
            for prefix, task in (("det", "detection"), ("e2e", "end_to_end"))
            for name in ("precision", "recall", "hmean")
        }
        logger.info(
            f"Text spotting on {self._dataset_name} ({len(results['images'])} images):\n"
            + create_small_table(metrics)
        )
        return OrderedDict({"text_spotting": metrics})
