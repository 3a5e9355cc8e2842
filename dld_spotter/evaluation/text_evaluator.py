"""Text-spotting scoring of prediction records against ground truth, and the detectron2 evaluator.

Reports detection, and end-to-end and word spotting under each lexicon mode of a protocol
preset (:mod:`.presets`), in percent, with these keys:

* ``det_precision``, ``det_recall``, ``det_hmean``;
* ``e2e_precision``, ``e2e_recall``, ``e2e_hmean``: end to end, lexicon-free ("None");
* ``e2e_<mode>_precision`` ... for ``mode`` in strong / weak / generic / full;
* ``ws_precision`` ..., ``ws_<mode>_precision`` ...: the same under word-spotting rules.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
from collections import OrderedDict, defaultdict
from collections.abc import Mapping, Sequence

import shapely
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import create_small_table
from shapely.geometry.base import BaseGeometry

from ..data.formats import DONT_CARE
from ..data.lexicons import load_lexicon
from .cost import scale_histogram
from .lexicon import Lexicon, LexiconRules
from .predictions import check_scores, instances_to_records
from .presets import ProtocolPreset, get_preset, preset_for_dataset
from .protocol import (
    ImageResult,
    PolygonLike,
    Protocol,
    accumulate,
    evaluate_image,
    to_geometry,
)

__all__ = [
    "TextSpottingEvaluator",
    "describe_settings",
    "evaluate_records",
    "format_results_table",
    "metrics_in_percent",
    "split_details",
    "validate_records",
]

logger = logging.getLogger(__name__)

# How many offending examples a warning shows.
_SHOWN_EXAMPLES = 3


def _region(polygons: Sequence[PolygonLike]) -> PolygonLike | BaseGeometry:
    """An annotation's region: its polygon, or the union of its polygons (a word in parts)."""
    if len(polygons) == 1:
        return polygons[0]
    return shapely.union_all([to_geometry(p) for p in polygons])


def _ground_truth(dataset_dict: dict) -> tuple[list, list[str], list[bool]]:
    """(regions, texts, ignore flags) of one dataset dict (as
    :func:`~dld_spotter.data.load_text_json` reads it); errors name the image file."""
    regions, texts, ignore = [], [], []
    for k, ann in enumerate(dataset_dict.get("annotations", [])):
        where = f"{dataset_dict['file_name']}: annotation #{k}"
        segmentation = ann.get("segmentation")
        if not isinstance(segmentation, list) or not segmentation:
            raise ValueError(
                f"{where} must have a list of polygons in 'segmentation' ([[x1, y1, ...], ...]), "
                f"got {segmentation!r}; fix the dataset JSON"
            )
        if "text" not in ann:
            raise ValueError(
                f"{where} has no 'text'; use {DONT_CARE!r} with ignore=1 for a don't-care region"
            )
        try:
            regions.append(_region(segmentation))
        except ValueError as e:
            raise ValueError(f"{where}: {e}; fix the dataset JSON") from e
        texts.append(ann["text"])
        ignore.append(bool(ann.get("ignore", 0)))
    return regions, texts, ignore


def _clean_record(record) -> dict:
    """A record with every field present and checked; raises ValueError saying what is wrong."""
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object: {record!r:.60}")
    polygon = record.get("polygon")
    if polygon is None and record.get("box") is not None:
        x1, y1, x2, y2 = (float(v) for v in record["box"])
        polygon = [x1, y1, x2, y1, x2, y2, x1, y2]
    if polygon is None:
        raise ValueError("neither 'polygon' nor 'box'")
    try:
        polygon = [float(v) for v in polygon]
        to_geometry(polygon)
        score = float(record.get("score", 1.0))
        text_score = float(record.get("text_score", 1.0))
    except (TypeError, ValueError) as e:
        raise ValueError(f"bad geometry or score ({e})") from e
    text = record.get("text", "")
    if not isinstance(text, str):
        raise ValueError(f"'text' is not a string: {text!r:.40}")
    return {
        "image_id": record.get("image_id"),
        "file_name": record.get("file_name"),
        "polygon": polygon,
        "score": score,
        "text": text,
        "text_score": text_score,
    }


def validate_records(records: Sequence) -> tuple[list[dict], list[str]]:
    """Split prediction records into usable ones (with defaults filled in: ``polygon`` from
    ``box``, ``score`` and ``text_score`` 1.0, ``text`` "") and descriptions of the others."""
    valid, problems = [], []
    for k, record in enumerate(records):
        try:
            valid.append(_clean_record(record))
        except ValueError as e:
            where = (record.get("file_name") or record.get("image_id")) if isinstance(
                record, dict
            ) else None
            problems.append(f"record #{k} (image {where}): {e}")
    if problems:
        logger.warning(
            f"{len(problems)} of {len(records)} prediction records are broken and not scored, "
            f"e.g. {'; '.join(problems[:_SHOWN_EXAMPLES])}. Each needs a 'polygon' of >= 3 "
            "finite (x, y) points (or a 'box'), numeric 'score'/'text_score' and a string 'text'"
        )
    return valid, problems


def _assign_to_images(records: Sequence[dict], gt_by_id: Mapping) -> dict:
    """Records grouped by ground-truth image id: by ``image_id``, else by the base name of
    ``file_name`` (when that base name is unique in the ground truth); unknown ones under
    their own ``image_id`` / ``file_name``."""
    by_name = defaultdict(list)
    for image_id, d in gt_by_id.items():
        by_name[os.path.basename(d["file_name"])].append(image_id)
    by_image = defaultdict(list)
    for r in records:
        if r["image_id"] in gt_by_id:
            by_image[r["image_id"]].append(r)
            continue
        name = os.path.basename(r["file_name"] or "")
        ids = by_name.get(name, [])
        unknown = r["image_id"] if r["image_id"] is not None else r["file_name"]
        by_image[ids[0] if len(ids) == 1 else unknown].append(r)
    return by_image


def _lexicon_providers(
    modes: Sequence[str], dataset_dicts: Sequence[dict], lexicons: Mapping
) -> tuple[dict, dict[str, str]]:
    """Per lexicon mode, a function dataset dict -> Lexicon (or None); and the modes that
    cannot be evaluated, with the reason."""
    def constant(words):
        lexicon = words if isinstance(words, Lexicon) else Lexicon(words)
        return lambda d: lexicon

    has_strong = any("lexicon" in d for d in dataset_dicts)
    providers, skipped = {}, {}
    for mode in modes:
        if mode == "none":
            providers[mode] = lambda d: None
        elif mode == "strong":
            if has_strong:
                providers[mode] = lambda d: Lexicon(d.get("lexicon", []))
            else:
                skipped[mode] = "the ground truth has no per-image 'lexicon' lists"
        elif lexicons.get(mode) is not None:
            providers[mode] = constant(lexicons[mode])
        elif mode == "full" and has_strong:
            providers[mode] = constant(w for d in dataset_dicts for w in d.get("lexicon", []))
        else:
            skipped[mode] = (
                f"no {mode} lexicon (the data set's metadata 'lexicons' or --{mode}-lexicon)"
            )
    if skipped:
        logger.warning(f"Lexicon modes not evaluated: {skipped}")
    return providers, skipped


def _score(
    gt: tuple[list, list[str], list[bool]],
    records: Sequence[dict],
    texts: Sequence[str],
    protocol: Protocol,
    end_to_end: bool,
    file_name: str,
) -> ImageResult:
    try:
        return evaluate_image(
            *gt,
            [r["polygon"] for r in records],
            texts,
            [r["score"] for r in records],
            protocol,
            end_to_end=end_to_end,
        )
    except ValueError as e:
        raise ValueError(f"{file_name}: {e}; fix the ground truth") from e


def _describe(
    result: ImageResult, gt_texts: Sequence[str], texts: Sequence[str], index: Sequence[int]
) -> dict:
    """Matches, misses, false positives and dropped predictions of one image; prediction
    indices are ``index[k]`` (positions among the image's records)."""
    found = [m for m in result.matches if m.text_correct is not False]
    found_gt, found_pred = {m.gt_index for m in found}, {m.pred_index for m in found}
    dropped, dont_care = set(result.dropped), set(result.dont_care)
    return {
        "matches": [
            {
                "gt": m.gt_index,
                "pred": index[m.pred_index],
                "iou": round(m.iou, 4),
                "gt_text": gt_texts[m.gt_index],
                "pred_text": texts[m.pred_index],
                "correct": m.text_correct,
            }
            for m in result.matches
        ],
        "misses": [
            {"gt": g, "gt_text": t}
            for g, t in enumerate(gt_texts)
            if g not in dont_care and g not in found_gt
        ],
        "false_positives": [
            {"pred": index[p], "pred_text": texts[p]}
            for p in range(len(texts))
            if p not in dropped and p not in found_pred
        ],
        "dropped": [index[p] for p in result.dropped],
    }


def evaluate_records(
    dataset_dicts: Sequence[dict],
    records: Sequence,
    image_ids: Sequence | None = None,
    protocol: Protocol | None = None,
    rec_score_thresh: float = 0.0,
    *,
    preset: ProtocolPreset | str = "plain",
    lexicons: Mapping[str, Sequence[str] | Lexicon] | None = None,
    lexicon_rules: LexiconRules | None = None,
    e2e_word_spotting: bool = False,
    details: bool = False,
) -> dict:
    """Score prediction records (see :mod:`.predictions`) against detectron2 dataset dicts.

    Args:
        dataset_dicts: the ground truth (dicts with ``image_id``, ``file_name``,
            ``annotations`` and, for the strong lexicon, ``lexicon``: a list of words).
        records: predictions, matched to images by ``image_id``, else by the base name of
            ``file_name``; broken records and records of unknown images are counted in a
            warning and not scored. A ``score`` or ``text_score`` outside [0, 1] is an error
            (:func:`.predictions.check_scores`).
        image_ids: the images to score (default: every image of ``dataset_dicts``); an image
            without records counts its ground truths as misses.
        protocol: the matching rules (default :class:`Protocol`: the official RRC rules);
            its ``word_spotting`` is set per task. Records are matched in their order.
        rec_score_thresh: records with ``text_score`` below it are left out of end-to-end and
            word-spotting scoring (detection keeps them); the lexicon modes use
            ``lexicon_rules.rec_score_thresh`` when it is set.
        preset: the protocol preset (or its name) that lists the lexicon modes.
        lexicons: word lists (or :class:`Lexicon`) of the ``weak``, ``generic`` and ``full``
            modes; ``full`` defaults to the union of the per-image lexicons. A mode without its
            lexicon is skipped with a warning.
        lexicon_rules: how the lexicon modes read a record (default :class:`.LexiconRules`:
            the nearest word always replaces the reading).
        e2e_word_spotting: apply the word-spotting don't-care rule in the end-to-end task too
            (the AdelaiDet convention for Total-Text; default off, as Mask TextSpotter).
        details: add to each image its matches, misses, false positives and dropped records.

    Returns:
        ``{"detection": metrics, "end_to_end": {mode: metrics}, "word_spotting": {mode:
        metrics}, "skipped_lexicon_modes": {mode: reason}, "images": [...],
        "num_unknown_predictions": int, "num_invalid_predictions": int}``; metrics as
        :func:`accumulate` returns them (fractions).
    """
    protocol = protocol or Protocol()
    rules = lexicon_rules or LexiconRules()
    preset = get_preset(preset) if isinstance(preset, str) else preset
    check_scores(records, "the prediction records")
    gt_by_id = {d["image_id"]: d for d in dataset_dicts}
    valid, problems = validate_records(records)
    by_image = _assign_to_images(valid, gt_by_id)
    image_ids = list(gt_by_id) if image_ids is None else list(dict.fromkeys(image_ids))
    unknown_images = (set(image_ids) | set(by_image)) - set(gt_by_id)
    num_unknown = sum(len(by_image.get(i, [])) for i in unknown_images)
    if unknown_images:
        examples = sorted(map(str, unknown_images))[:_SHOWN_EXAMPLES]
        logger.warning(
            f"{len(unknown_images)} images with {num_unknown} predictions are not in the ground "
            f"truth; they are not scored (e.g. {', '.join(examples)}). Predictions are matched "
            "to images by image_id, else by the base name of file_name"
        )
    image_ids = [i for i in image_ids if i in gt_by_id]
    providers, skipped = _lexicon_providers(
        preset.lexicon_modes, [gt_by_id[i] for i in image_ids], lexicons or {}
    )
    tasks = {
        "end_to_end": dataclasses.replace(protocol, word_spotting=e2e_word_spotting),
        "word_spotting": dataclasses.replace(protocol, word_spotting=True),
    }
    det_protocol = dataclasses.replace(protocol, word_spotting=False)

    det_results = []
    task_results = {task: {mode: [] for mode in providers} for task in tasks}
    images = []
    for image_id in image_ids:
        dataset_dict = gt_by_id[image_id]
        file_name = dataset_dict["file_name"]
        gt = _ground_truth(dataset_dict)
        preds = by_image.get(image_id, [])
        det = _score(gt, preds, [r["text"] for r in preds], det_protocol, False, file_name)
        det_results.append(det)
        image = {"image_id": image_id, "file_name": file_name, "detection": det.counts()}
        if details:
            texts = [r["text"] for r in preds]
            image["details"] = {"detection": _describe(det, gt[1], texts, range(len(preds)))}
        for mode, provider in providers.items():
            lexicon = provider(dataset_dict)
            thresh = rec_score_thresh
            if lexicon is not None and rules.rec_score_thresh is not None:
                thresh = rules.rec_score_thresh
            read = {k: rules.read(r["text"], lexicon) for k, r in enumerate(preds)
                    if r["text_score"] >= thresh}
            readable = [k for k, text in read.items() if text is not None]
            texts = [read[k] for k in readable]
            for task, task_protocol in tasks.items():
                result = _score(
                    gt, [preds[k] for k in readable], texts, task_protocol, True, file_name
                )
                task_results[task][mode].append(result)
                image.setdefault(task, {})[mode] = result.counts()
                if details:
                    image["details"].setdefault(task, {})[mode] = _describe(
                        result, gt[1], texts, readable
                    )
        images.append(image)
    return {
        "detection": accumulate(det_results),
        **{
            task: {mode: accumulate(results) for mode, results in by_mode.items()}
            for task, by_mode in task_results.items()
        },
        "skipped_lexicon_modes": skipped,
        "images": images,
        "num_unknown_predictions": num_unknown,
        "num_invalid_predictions": len(problems),
    }


def split_details(results: dict) -> list[dict]:
    """Remove the per-image ``details`` of :func:`evaluate_records`'s results (made with
    ``details=True``) and return them as ``[{"image_id", "file_name", "details"}]``."""
    return [
        {"image_id": im["image_id"], "file_name": im["file_name"], "details": im.pop("details")}
        for im in results["images"]
    ]


def describe_settings(
    preset: ProtocolPreset,
    protocol: Protocol,
    rec_score_thresh: float,
    lexicon_rules: LexiconRules,
    e2e_word_spotting: bool,
    lexicon_files: Mapping[str, str],
) -> dict:
    """The scoring settings as a JSON-friendly dict; ``e2e_convention`` names the rules
    behind the end-to-end numbers."""
    return {
        "preset": preset.name,
        "lexicon_modes": list(preset.lexicon_modes),
        "protocol": dataclasses.asdict(protocol),
        "rec_score_thresh": rec_score_thresh,
        "lexicon_rules": dataclasses.asdict(lexicon_rules),
        "lexicon_files": dict(lexicon_files),
        "e2e_word_spotting": e2e_word_spotting,
        "e2e_convention": "AdelaiDet (word-spotting rules on)"
        if e2e_word_spotting
        else "Mask TextSpotter (word-spotting rules off)",
    }


def metrics_in_percent(results: Mapping) -> dict[str, float]:
    """The flat metric dict (percent) of :func:`evaluate_records`'s results; key names in
    this module's docstring."""
    names = ("precision", "recall", "hmean")
    metrics = {f"det_{n}": 100.0 * results["detection"][n] for n in names}
    for prefix, task in (("e2e", "end_to_end"), ("ws", "word_spotting")):
        for mode, values in results[task].items():
            infix = "" if mode == "none" else f"_{mode}"
            metrics.update({f"{prefix}{infix}_{n}": 100.0 * values[n] for n in names})
    return metrics


def format_results_table(
    metrics: Mapping[str, float],
    modes: Sequence[str] = ("strong", "weak", "generic", "none", "full"),
) -> str:
    """One-row table in the columns of the paper's Table 1: detection P / R / H, end-to-end
    and word-spotting H-mean per lexicon mode (those of ``modes`` that ``metrics`` has), then
    whichever of ``rec_accuracy`` (Table 8's "Rec"), ``gflops`` and ``fps`` it has."""
    short = {"none": "None", "strong": "S", "weak": "W", "generic": "G", "full": "Full"}
    row = {
        "Det-P": metrics["det_precision"],
        "Det-R": metrics["det_recall"],
        "Det-H": metrics["det_hmean"],
    }
    for prefix, title in (("e2e", "E2E"), ("ws", "WS")):
        for mode in modes:
            key = f"{prefix}_hmean" if mode == "none" else f"{prefix}_{mode}_hmean"
            if key in metrics:
                row[f"{title}-{short[mode]}"] = metrics[key]
    for key, title in (("rec_accuracy", "Rec"), ("gflops", "GFLOPs"), ("fps", "FPS")):
        if key in metrics:
            row[title] = metrics[key]
    return create_small_table(row)


class TextSpottingEvaluator(DatasetEvaluator):
    """Detection, end-to-end and word-spotting precision / recall / Hmean of a text spotter
    under the rules of :mod:`.protocol`, for each lexicon mode of a protocol preset.

    Only the images that went through :meth:`process` are scored. With ``output_dir``,
    :meth:`evaluate` writes there ``text_predictions.json`` (the records),
    ``text_results.json`` (metrics, settings, per-image counts) and ``text_per_image.json``
    (per image: matches with IoU and texts, misses, false positives, dropped records, and the
    input scale of a model that chooses one).
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: str | None = None,
        distributed: bool = True,
        rec_score_thresh: float = 0.0,
        protocol: Protocol | None = None,
        *,
        preset: str | None = None,
        lexicon_modes: Sequence[str] | None = None,
        lexicon_rules: LexiconRules | None = None,
        e2e_word_spotting: bool = False,
        lexicon_files: Mapping[str, str] | None = None,
    ):
        """
        Args:
            dataset_name: a name registered in ``DatasetCatalog`` (dicts with ``annotations``
                holding ``segmentation``, ``text`` and ``ignore``; optionally ``lexicon``).
            output_dir: where to write the JSON files (None: write nothing).
            distributed: gather the predictions of every process on the main one.
            rec_score_thresh: recognition-score threshold applied before end-to-end scoring.
            protocol: the matching rules (default :class:`Protocol`: the official RRC rules,
                IoU > 0.5, case-insensitive, official matching order).
            preset: ``ic13``, ``ic15``, ``totaltext`` or ``plain``; None: from the data set's
                metadata ``protocol`` or its name (:func:`.presets.preset_for_dataset`).
            lexicon_modes: evaluate only these modes (default: the preset's).
            lexicon_rules: how the lexicon modes read a prediction (:class:`.LexiconRules`).
            e2e_word_spotting: word-spotting rules in the end-to-end task too (AdelaiDet's
                Total-Text convention; default off, Mask TextSpotter's).
            lexicon_files: lexicon files by mode (``weak``, ``generic``, ``full``), over those
                of the data set's metadata ``lexicons``.
        """
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._distributed = distributed
        self._rec_score_thresh = rec_score_thresh
        self._protocol = protocol or Protocol()
        metadata = MetadataCatalog.get(dataset_name)
        self._preset = (
            get_preset(preset)
            if preset
            else preset_for_dataset(dataset_name, metadata.get("protocol", None))
        )
        if lexicon_modes:
            self._preset = self._preset.with_modes(tuple(lexicon_modes))
        self._lexicon_rules = lexicon_rules or LexiconRules()
        self._e2e_word_spotting = e2e_word_spotting
        self._lexicon_files = {**(metadata.get("lexicons", None) or {}), **(lexicon_files or {})}
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset_name: str, output_dir: str | None = None):
        """The evaluator that the ``TEST.TEXT.*`` keys of ``cfg`` describe."""
        text = cfg.TEST.TEXT
        files = {"weak": text.LEXICONS.WEAK, "generic": text.LEXICONS.GENERIC,
                 "full": text.LEXICONS.FULL}
        try:
            protocol = Protocol(iou_threshold=text.IOU_THRESHOLD, matching=text.MATCHING)
        except ValueError as e:
            raise ValueError(f"TEST.TEXT.IOU_THRESHOLD {text.IOU_THRESHOLD!r} / "
                             f"TEST.TEXT.MATCHING {text.MATCHING!r}: {e}") from None
        return cls(
            dataset_name,
            output_dir=output_dir,
            rec_score_thresh=text.REC_SCORE_THRESH,
            protocol=protocol,
            preset=text.PROTOCOL or None,
            lexicon_modes=list(text.LEXICON_MODES) or None,
            lexicon_rules=LexiconRules(
                max_distance=text.LEXICON_MAX_DISTANCE,
                drop_unmatched=text.LEXICON_DROP_UNMATCHED,
                rec_score_thresh=None if text.LEXICON_REC_SCORE_THRESH < 0
                else text.LEXICON_REC_SCORE_THRESH,
            ),
            e2e_word_spotting=text.E2E_WORD_SPOTTING,
            lexicon_files={mode: path for mode, path in files.items() if path},
        )

    def reset(self):
        self._image_ids = []
        self._records = []
        self._scales = {}  # image_id -> the input scale a selector chose

    def process(self, inputs, outputs):
        for inp, out in zip(inputs, outputs):
            self._image_ids.append(inp["image_id"])
            if "scale" in out:
                self._scales[inp["image_id"]] = float(out["scale"])
            instances = out["instances"].to("cpu")
            self._records.extend(
                instances_to_records(
                    instances, image_id=inp["image_id"], file_name=inp.get("file_name")
                )
            )

    def settings(self) -> dict:
        """The scoring settings, as written to ``text_results.json``."""
        return {
            "dataset": self._dataset_name,
            **describe_settings(
                self._preset,
                self._protocol,
                self._rec_score_thresh,
                self._lexicon_rules,
                self._e2e_word_spotting,
                self._lexicon_files,
            ),
        }

    def evaluate(self):
        image_ids, records, scales = self._image_ids, self._records, self._scales
        if self._distributed:
            comm.synchronize()
            image_ids = list(itertools.chain(*comm.gather(image_ids, dst=0)))
            records = list(itertools.chain(*comm.gather(records, dst=0)))
            scales = {k: v for part in comm.gather(scales, dst=0) for k, v in part.items()}
            if not comm.is_main_process():
                return {}
        if not image_ids:
            logger.warning(f"[TextSpottingEvaluator] {self._dataset_name}: nothing was processed")
            return {}

        lexicons = {
            mode: load_lexicon(path)
            for mode, path in self._lexicon_files.items()
            if mode in self._preset.lexicon_modes and path
        }
        results = evaluate_records(
            DatasetCatalog.get(self._dataset_name),
            records,
            image_ids,
            self._protocol,
            self._rec_score_thresh,
            preset=self._preset,
            lexicons=lexicons,
            lexicon_rules=self._lexicon_rules,
            e2e_word_spotting=self._e2e_word_spotting,
            details=bool(self._output_dir),
        )
        metrics = metrics_in_percent(results)
        histogram = scale_histogram(scales.values()) if scales else {}
        if self._output_dir:
            self._write(records, results, metrics, histogram, scales)

        logger.info(
            f"Text spotting on {self._dataset_name} ({len(results['images'])} images, "
            f"protocol {self._preset.name}, matching {self._protocol.matching}, "
            f"end to end: {self.settings()['e2e_convention']}):\n"
            + format_results_table(metrics, self._preset.lexicon_modes)
        )
        output = OrderedDict({"text_spotting": metrics})
        if histogram:
            output["cost"] = histogram
        return output

    def _write(self, records: list[dict], results: dict, metrics: dict,
               histogram: dict, scales: dict) -> None:
        PathManager.mkdirs(self._output_dir)
        per_image = split_details(results)
        for image in per_image:
            if image["image_id"] in scales:
                image["scale"] = scales[image["image_id"]]
        files = {
            "text_predictions.json": records,
            "text_results.json": {**self.settings(), "metrics": metrics,
                                  "scale_histogram": histogram, **results},
            "text_per_image.json": per_image,
        }
        for name, content in files.items():
            with PathManager.open(os.path.join(self._output_dir, name), "w") as f:
                json.dump(content, f, indent=1 if name == "text_results.json" else None)
