"""Text data sets in the project's COCO-style JSON format (see ``datasets/README.md``).

:func:`load_text_json` reads and validates one split into detectron2 dataset dicts, for
training and evaluation alike (the evaluator and ``python -m dld_spotter.evaluation``);
:func:`register_text_dataset` makes it available by name. Importing this module registers
the built-in synthetic set (``synth_train``, ``synth_val``) and the public benchmarks
(``BENCHMARKS``, converted with ``python -m dld_spotter.data.convert``) under ``$DLD_DATASETS``.
"""
from __future__ import annotations

import itertools
import json
import logging
import math
import operator
import os
from functools import partial
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode

from .formats.base import DONT_CARE
from .lexicons import lexicon_files

logger = logging.getLogger(__name__)

FORMAT_HELP = (
    'expected the COCO-style text format: {"images": [{"id", "file_name", "height", "width"}], '
    '"annotations": [{"id", "image_id", "segmentation": [[x1, y1, x2, y2, ...]], "text", '
    '"ignore"}]}; see datasets/README.md'
)
IMAGE_KEYS = ("id", "file_name", "height", "width")
ANNOTATION_KEYS = ("id", "image_id", "segmentation", "text")
_SHOWN_IDS = 5  # annotation ids quoted in a warning

SYNTH_COMMAND = (
    "python -m dld_spotter.data.synth --out {root}/synth --num-train 2000 --num-val 100 --seed 0"
)
# Generated sets: folder under the root -> the command that makes it. ``synth_photo`` is the
# generator closer to photographs (datasets/README.md): more fonts, photograph backgrounds,
# degradations.
SYNTH_SETS = {
    "synth": SYNTH_COMMAND,
    "synth_photo": "python -m dld_spotter.data.synth --out {root}/synth_photo --num-train 2000 "
                   "--num-val 100 --seed 1 --fonts {root}/fonts --backgrounds {root}/backgrounds "
                   "--degrade",
}
# name: (folder under the root, split, converter format, native ground truth in the folder,
#        per-image lexicon folder or None, folder of the weak/generic/full lexicons or None).
# Images are in <folder>/<split>_images, except SynthText's (<folder>/images, with gt.mat).
BENCHMARKS = {
    "ic13_train": ("icdar2013", "train", "ic13", "train_gt", None, None),
    "ic13_test": ("icdar2013", "test", "ic13", "test_gt", "test_lexicons", "lexicons"),
    "ic15_train": ("icdar2015", "train", "ic15", "train_gt", None, None),
    "ic15_test": ("icdar2015", "test", "ic15", "test_gt", "test_lexicons", "lexicons"),
    "totaltext_train": ("totaltext", "train", "totaltext", "train_gt", None, None),
    "totaltext_test": ("totaltext", "test", "totaltext", "test_gt", None, "lexicons"),
    "synthtext": ("synthtext", "train", "synthtext", "images/gt.mat", None, None),
    "mlt17_train": ("mlt2017", "train", "mlt17", "train_gt", None, None),
}


# A coordinate more than this many image widths (heights, for y) beyond the image's left or
# right (top or bottom) edge is "far outside": a wrong unit, a swapped field or a corrupt
# value (1e9). Polygons a few pixels outside their image, common in the benchmarks, are kept.
# Such a polygon would make the mask rasterisation of training allocate memory in proportion
# to its coordinates, not to the image (1e9: tens of GB, then a crash).
FAR_OUTSIDE = 1.0
_ZERO_AREA = 1e-6  # square pixels


class PolygonProblem(NamedTuple):
    """Why a ground-truth polygon cannot be used: ``kind`` (a key of :data:`POLYGON_PROBLEMS`)
    and ``detail`` (the offending value, for messages)."""

    kind: str
    detail: str


# kind: what the warnings say of the polygons of that kind.
POLYGON_PROBLEMS = {
    "far_outside": f"with a coordinate far outside their image (more than {FAR_OUTSIDE:g} x "
                   "the image's width or height beyond its edge: a wrong unit, swapped fields "
                   "or a corrupt value?)",
    "outside": "lying wholly outside their image",
    "zero_area": "of zero area (collinear or repeated points, which no detection can match)",
}


def _area(polygon: Sequence[float]) -> float:
    """The area of a flat polygon; a self-intersecting one (a bow-tie) counts the area of its
    repaired parts, as the evaluator does (``shapely.make_valid``)."""
    xs, ys = polygon[0::2], polygon[1::2]
    area = abs(sum(map(operator.mul, xs, ys[1:] + ys[:1]))
               - sum(map(operator.mul, xs[1:] + xs[:1], ys))) / 2
    if area > _ZERO_AREA:
        return area
    import shapely  # only for the rare polygons whose signed area vanishes
    from shapely.geometry import Polygon

    return shapely.make_valid(Polygon(list(zip(xs, ys)))).area


def polygon_problem(polygon: Sequence[float], height: float, width: float
                    ) -> Optional[PolygonProblem]:
    """Why the flat polygon ``polygon`` (>= 3 finite points) of an image of ``height`` x
    ``width`` pixels is no usable ground truth, or None: a coordinate far outside the image
    (:data:`FAR_OUTSIDE`), the polygon wholly outside the image, or zero area. The one rule of
    the loader (:func:`load_text_json`, training and evaluation), the mapper and the
    converters (which warn)."""
    xs, ys = list(polygon[0::2]), list(polygon[1::2])
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if (x0 < -FAR_OUTSIDE * width or x1 > (1 + FAR_OUTSIDE) * width
            or y0 < -FAR_OUTSIDE * height or y1 > (1 + FAR_OUTSIDE) * height):
        axis, value = next((a, v) for a, v, size in (("x", x0, width), ("x", x1, width),
                                                     ("y", y0, height), ("y", y1, height))
                           if v < -FAR_OUTSIDE * size or v > (1 + FAR_OUTSIDE) * size)
        return PolygonProblem("far_outside", f"{axis} = {value:g} in an image of {width:g} x "
                              f"{height:g} px")
    if _area(polygon) <= _ZERO_AREA:
        return PolygonProblem("zero_area", f"area 0 ({len(xs)} points)")
    if x1 <= 0 or x0 >= width or y1 <= 0 or y0 >= height:
        return PolygonProblem("outside", f"x {x0:g}..{x1:g}, y {y0:g}..{y1:g} in an image of "
                              f"{width:g} x {height:g} px")
    return None


def _format_error(json_file: str, what: str) -> ValueError:
    return ValueError(f"{json_file}: {what}; {FORMAT_HELP}")


def _check_keys(json_file: str, record: Any, keys: tuple, where: str) -> None:
    if not isinstance(record, dict):
        raise _format_error(json_file, f"{where} is a {type(record).__name__}, not an object")
    missing = [k for k in keys if k not in record]
    if missing:
        raise _format_error(json_file, f"{where} has no key {missing[0]!r}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _polygons(json_file: str, ann: dict) -> List[List[float]]:
    """The annotation's polygons as flat coordinate lists (a flat list is one polygon)."""
    seg = ann["segmentation"]
    where = f"annotation {ann['id']} (image {ann['image_id']})"
    if isinstance(seg, list) and seg and all(_is_number(v) for v in seg):
        seg = [seg]
    if not isinstance(seg, list) or not all(
        isinstance(p, list) and all(_is_number(v) for v in p) for p in seg
    ):
        raise _format_error(
            json_file, f"{where}: 'segmentation' must be a list of polygons [[x1, y1, x2, y2, ...]]"
        )
    if any(len(p) % 2 for p in seg):
        raise _format_error(json_file, f"{where}: a polygon has an odd number of coordinates")
    if not all(math.isfinite(v) for p in seg for v in p):
        raise _format_error(json_file, f"{where}: a polygon has a coordinate that is NaN or "
                            "infinite")
    return [[float(v) for v in p] for p in seg]


def _pixels(json_file: str, index: int, img: dict, key: str) -> int:
    """``img[key]`` (its height or width) as a positive integer."""
    try:
        value = int(img[key])
    except (TypeError, ValueError, OverflowError):  # None, "abc", NaN, infinity
        value = 0
    if value < 1:
        raise _format_error(json_file, f"images[{index}] (id {img['id']}): {key} {img[key]!r} "
                            "is not a positive number of pixels")
    return value


def _warn_dropped(json_file: str, kind: str, examples: List[str]) -> None:
    if examples:
        shown = "; ".join(examples[:_SHOWN_IDS])
        more = "; ..." if len(examples) > _SHOWN_IDS else ""
        logger.warning(
            f"{json_file}: dropped {len(examples)} polygon(s) {POLYGON_PROBLEMS[kind]}: "
            f"{shown}{more}. An annotation left with no polygon is skipped (datasets/README.md, "
            "imperfect files)"
        )


def _warn_skipped(json_file: str, ids: List[Any], reason: str) -> None:
    if ids:
        shown = ", ".join(str(i) for i in ids[:_SHOWN_IDS])
        more = ", ..." if len(ids) > _SHOWN_IDS else ""
        logger.warning(
            f"{json_file}: skipped {len(ids)} annotation(s) {reason} (ids {shown}{more})"
        )


def load_text_json(json_file: str, image_root: str, *, check_images: bool = True
                   ) -> List[Dict[str, Any]]:
    """Load one split of a text data set as detectron2 dataset dicts.

    Boxes are the bounding boxes of the polygons. Don't-care instances (``ignore`` = 1, or text
    "###") are kept with text "###"; an empty transcription makes an instance don't-care.
    Polygons of < 3 points are dropped; so are, with a warning that names the annotation, the
    image and the offending value, polygons with a coordinate far outside their image, wholly
    outside it, or of zero area (:func:`polygon_problem`). Annotations left with no polygon, or
    that reference an unknown image, are skipped with a warning. An image's ``lexicon`` (its
    strong lexicon) is kept in its dict.

    Args:
        json_file: the split's JSON file.
        image_root: the folder that ``file_name`` is relative to.
        check_images: fail when an image file does not exist (False: scoring without images).

    Raises:
        FileNotFoundError: ``json_file`` or (with ``check_images``) an image file does not exist.
        ValueError: ``json_file`` is not in the format of ``datasets/README.md``, e.g. a
            segmentation that is no list of polygons, has an odd number of coordinates or a NaN
            or infinite one, or an image whose height or width is not a positive integer; the
            message names the file, the image and the annotation id.

    Nothing read from the file makes the loader (or, later, training) use memory out of
    proportion to the images: coordinates far outside the image are dropped here.
    """
    if not os.path.isfile(json_file):
        raise FileNotFoundError(f"Text data set file {json_file} does not exist; its format and "
                                "the converters of the benchmarks: datasets/README.md")
    with open(json_file, encoding="utf-8") as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise _format_error(json_file, f"not valid JSON ({e})") from e
    _check_keys(json_file, data, ("images", "annotations"), "the top level")

    dicts: Dict[Any, Dict[str, Any]] = {}
    names: Dict[Any, str] = {}  # image id -> file_name as in the file (for messages)
    for i, img in enumerate(data["images"]):
        _check_keys(json_file, img, IMAGE_KEYS, f"images[{i}]")
        if img["id"] in dicts:
            raise _format_error(json_file, f"images[{i}] repeats the image id {img['id']}")
        dicts[img["id"]] = {
            "file_name": os.path.join(image_root, img["file_name"]),
            "height": _pixels(json_file, i, img, "height"),
            "width": _pixels(json_file, i, img, "width"),
            "image_id": img["id"],
            "annotations": [],
        }
        names[img["id"]] = img["file_name"]
        if "lexicon" in img:
            dicts[img["id"]]["lexicon"] = list(img["lexicon"])

    bad_polygon, unknown_image, emptied = [], [], 0
    dropped: Dict[str, List[str]] = {kind: [] for kind in POLYGON_PROBLEMS}
    for i, ann in enumerate(data["annotations"]):
        _check_keys(json_file, ann, ANNOTATION_KEYS, f"annotations[{i}]")
        polygons = [p for p in _polygons(json_file, ann) if len(p) >= 6]
        if not polygons:
            bad_polygon.append(ann["id"])
            continue
        if ann["image_id"] not in dicts:
            unknown_image.append(ann["id"])
            continue
        image = dicts[ann["image_id"]]
        kept = []
        for polygon in polygons:
            problem = polygon_problem(polygon, image["height"], image["width"])
            if problem is None:
                kept.append(polygon)
                continue
            dropped[problem.kind].append(
                f"annotation {ann['id']} of image {ann['image_id']} "
                f"({names[ann['image_id']]}): {problem.detail}")
        if not kept:
            continue
        polygons = kept
        text = ann["text"]
        if not isinstance(text, str):
            raise _format_error(json_file, f"annotation {ann['id']}: 'text' must be a string")
        ignore = bool(ann.get("ignore", 0)) or text == DONT_CARE
        if not ignore and not text:
            ignore, emptied = True, emptied + 1
        xs = [v for p in polygons for v in p[0::2]]
        ys = [v for p in polygons for v in p[1::2]]
        dicts[ann["image_id"]]["annotations"].append({
            "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
            "bbox_mode": BoxMode.XYWH_ABS,
            "segmentation": polygons,
            "category_id": 0,
            "text": DONT_CARE if ignore else text,
            "ignore": int(ignore),
            "iscrowd": int(ann.get("iscrowd", 0)),
        })
    _warn_skipped(json_file, bad_polygon, "with no polygon of >= 3 points")
    for kind, examples in dropped.items():
        _warn_dropped(json_file, kind, examples)
    _warn_skipped(json_file, unknown_image, "whose image_id is not in 'images'")
    if emptied:
        logger.info(f"{json_file}: {emptied} instance(s) with an empty text made don't-care")

    missing = [d["file_name"] for d in dicts.values()
               if check_images and not os.path.isfile(d["file_name"])]
    if missing:
        raise FileNotFoundError(
            f"{json_file}: {len(missing)} image file(s) do not exist, the first is {missing[0]}; "
            f"check the image root {image_root!r} (file_name is relative to it)"
        )
    records = list(dicts.values())
    instances = [a for d in records for a in d["annotations"]]
    num_ignored = sum(a["ignore"] for a in instances)
    logger.info(
        f"Loaded {len(records)} images, {len(instances)} text instances "
        f"({num_ignored} don't-care) from {json_file}"
    )
    return records


def _set_metadata(name: str, json_file: str, image_root: str, **metadata) -> None:
    MetadataCatalog.get(name).set(
        thing_classes=["text"], evaluator_type="text", json_file=json_file,
        image_root=image_root, **metadata
    )


def register_text_dataset(name: str, json_file: str, image_root: str, **metadata) -> None:
    """Register a split in the project's format as ``name`` (DatasetCatalog, MetadataCatalog).

    Extra ``metadata`` (e.g. lexicon files) is stored in the data set's metadata.
    """
    DatasetCatalog.register(name, partial(load_text_json, json_file, image_root))
    _set_metadata(name, json_file, image_root, **metadata)


def _load_builtin(json_file: str, image_root: str, command: str, folder: str
                  ) -> List[Dict[str, Any]]:
    if not os.path.isfile(json_file):
        raise FileNotFoundError(
            f"The data set file {json_file} does not exist; create it with\n  {command}\n"
            f"(see datasets/README.md; or set DLD_DATASETS to the folder that holds {folder}/)"
        )
    return load_text_json(json_file, image_root)


def benchmark_paths(root: str, name: str) -> Tuple[str, str, str]:
    """``(json_file, image_root, conversion command)`` of benchmark ``name`` (BENCHMARKS)."""
    folder, split, fmt, gt, strong, _ = BENCHMARKS[name]
    base = os.path.join(root, folder)
    json_file = os.path.join(base, f"{split}.json")
    image_root = os.path.join(base, "images" if fmt == "synthtext" else f"{split}_images")
    command = (f"python -m dld_spotter.data.convert {fmt} --images {image_root} "
               f"--gt {os.path.join(base, gt)} --out {json_file}")
    if strong:
        command += f" --lexicons {os.path.join(base, strong)}"
    return json_file, image_root, command


# Training sets with a held-out part, for choices that must not be made on a test set:
# ``<name>_fit`` is all but the last N images (in the JSON's order), ``<name>_heldout`` those N.
HELDOUT_SPLITS = {"ic15_train": 100}


def _split_part(name: str, num_heldout: int, heldout: bool) -> List[Dict[str, Any]]:
    dicts = DatasetCatalog.get(name)
    if num_heldout >= len(dicts):
        raise ValueError(f"{name} has {len(dicts)} images: too few to hold out {num_heldout}")
    return dicts[len(dicts) - num_heldout:] if heldout else dicts[:len(dicts) - num_heldout]


def register_builtin(root: str) -> None:
    """Register the ``_train`` and ``_val`` splits of ``SYNTH_SETS``, the benchmarks of
    ``BENCHMARKS`` and the parts of ``HELDOUT_SPLITS``, each unless already there."""
    for (folder, command), split in itertools.product(SYNTH_SETS.items(), ("train", "val")):
        name = f"{folder}_{split}"
        if name in DatasetCatalog.list():
            continue
        json_file = os.path.join(root, folder, f"{split}.json")
        image_root = os.path.join(root, folder, split)
        DatasetCatalog.register(name, partial(_load_builtin, json_file, image_root,
                                              command.format(root=root), folder))
        _set_metadata(name, json_file, image_root)
    for name, (folder, *_, lexicons) in BENCHMARKS.items():
        if name in DatasetCatalog.list():
            continue
        json_file, image_root, command = benchmark_paths(root, name)
        DatasetCatalog.register(name, partial(_load_builtin, json_file, image_root, command,
                                              folder))
        extra = {}
        if lexicons:
            extra["lexicons"] = lexicon_files(os.path.join(root, folder, lexicons))
        _set_metadata(name, json_file, image_root, **extra)
    for name, num in HELDOUT_SPLITS.items():
        for part, heldout in (("fit", False), ("heldout", True)):
            if f"{name}_{part}" in DatasetCatalog.list():
                continue
            DatasetCatalog.register(f"{name}_{part}", partial(_split_part, name, num, heldout))
            meta = MetadataCatalog.get(name)
            _set_metadata(f"{name}_{part}", meta.json_file, meta.image_root)


def load_ground_truth(name_or_path: str, argument: str = "") -> List[Dict[str, Any]]:
    """The dataset dicts of a project JSON file (images not needed), or of a registered data
    set's name (e.g. ``ic15_train_heldout``); ``argument`` (e.g. ``"--gt"``) names it in the
    error."""
    if os.path.isfile(name_or_path):
        return load_text_json(name_or_path, "", check_images=False)
    if name_or_path in DatasetCatalog.list():
        return DatasetCatalog.get(name_or_path)
    raise FileNotFoundError(f"{argument} {name_or_path}".strip() + ": neither a ground-truth "
                            "file nor a registered data set name (e.g. ic15_test; see "
                            "datasets/README.md)")


def builtin_root() -> str:
    """The folder of the built-in data sets: ``$DLD_DATASETS``, by default ``datasets``."""
    return os.path.expanduser(os.getenv("DLD_DATASETS", "datasets"))


register_builtin(builtin_root())
