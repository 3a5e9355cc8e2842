"""Convert a benchmark's native ground truth to the project's COCO-style JSON.

    python -m dld_spotter.data.convert {ic13,ic15,totaltext,synthtext,mlt17} \\
        --images DIR --gt DIR_OR_FILE --out FILE.json [--lexicons DIR] [--legible-only]

``--images`` is the folder that ``file_name`` is relative to (the data set's ``image_root``);
``--gt`` the folder of per-image ground-truth files (or one file; SynthText: ``gt.mat``);
``--lexicons`` a folder of per-image strong lexicons (``voc_<image>.txt``), stored in each
image's ``"lexicon"``. See ``datasets/README.md`` for each benchmark's commands.

The output mirrors the native ground truth. A NaN or infinite coordinate is an error naming
the file and the line; polygons that the loader will drop (a coordinate far outside the image,
wholly outside it, zero area: :func:`~dld_spotter.data.datasets.polygon_problem`) and
self-intersecting ones (a bow-tie, which evaluation scores as its repaired parts) are written
as they are, with a warning that names the ground-truth file and the line.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

from tqdm import tqdm

from .datasets import POLYGON_PROBLEMS, polygon_problem
from .formats import READERS, ImageGT, Word, image_size
from .lexicons import per_image_lexicon

logger = logging.getLogger(__name__)

_SHOWN_EXAMPLES = 5  # polygons quoted in a warning
# kind of problem: what the converter's warning says of it (and what becomes of the polygon).
CONVERTER_WARNINGS = {
    **{kind: f"{what}; the loader drops them" for kind, what in POLYGON_PROBLEMS.items()},
    "self_intersecting": "that intersect themselves (a bow-tie: two points swapped?); "
                         "evaluation scores their repaired parts, training fills them even-odd",
}


def _orientation(ax: float, ay: float, bx: float, by: float, cx: float, cy: float) -> float:
    return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)


def _self_intersecting(polygon: Sequence[float]) -> bool:
    """Whether two edges of the polygon cross (a bow-tie); quadrilaterals, most of the
    benchmarks' polygons, are tested here, others by shapely."""
    if len(polygon) == 8:
        x0, y0, x1, y1, x2, y2, x3, y3 = polygon
        for (ax, ay, bx, by), (cx, cy, dx, dy) in (((x0, y0, x1, y1), (x2, y2, x3, y3)),
                                                   ((x1, y1, x2, y2), (x3, y3, x0, y0))):
            if (_orientation(ax, ay, bx, by, cx, cy) * _orientation(ax, ay, bx, by, dx, dy) < 0
                    and _orientation(cx, cy, dx, dy, ax, ay)
                    * _orientation(cx, cy, dx, dy, bx, by) < 0):
                return True
        return False
    from shapely.geometry import Polygon

    return not Polygon(list(zip(polygon[0::2], polygon[1::2]))).is_valid


def _where(gt: ImageGT, index: int, word: Word) -> str:
    """``gt_img_1.txt, line 3`` (or ``gt.mat (entry 0, a.jpg), word 2``)."""
    line = f"line {word.line}" if word.line is not None else f"word {index}"
    return f"{gt.source or gt.file_name}, {line}"


def _warn_polygons(problems: Dict[str, List[str]]) -> None:
    for kind, examples in problems.items():
        if examples:
            shown = "; ".join(examples[:_SHOWN_EXAMPLES])
            more = "; ..." if len(examples) > _SHOWN_EXAMPLES else ""
            logger.warning(f"{len(examples)} polygon(s) {CONVERTER_WARNINGS[kind]}: "
                           f"{shown}{more} (datasets/README.md, imperfect files)")


def polygon_area(polygon: Sequence[float]) -> float:
    """Area of a simple polygon given flat ``[x1, y1, ...]`` (shoelace formula)."""
    xs, ys = polygon[0::2], polygon[1::2]
    n = len(xs)
    return abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2


def to_text_json(images: Iterable[ImageGT], images_dir: str,
                 lexicon_dir: Optional[str] = None) -> Dict[str, Any]:
    """The project's JSON (``datasets/README.md``) of ``images``; sizes read from the files.

    Polygons that the loader will drop, and self-intersecting ones, are kept with a warning
    naming the ground-truth file and line.

    Raises:
        FileNotFoundError: an image (named with its ground-truth file) or a lexicon is missing.
        OSError: an image is a folder or cannot be read (named with its ground-truth file).
    """
    out_images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    rotated = []
    problems: Dict[str, List[str]] = {kind: [] for kind in CONVERTER_WARNINGS}
    for image_id, gt in enumerate(images, start=1):
        path = os.path.join(images_dir, gt.file_name)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{gt.source}: its image {path} does not exist")
        try:
            size = image_size(path)
        except OSError as e:
            raise type(e)(f"{gt.source}: its image: {e}") from None
        if size.exif_rotated:
            rotated.append(gt.file_name)
        record: Dict[str, Any] = {"id": image_id, "file_name": gt.file_name,
                                  "height": size.height, "width": size.width}
        if lexicon_dir is not None:
            record["lexicon"] = per_image_lexicon(lexicon_dir, gt.file_name)
        out_images.append(record)
        for index, word in enumerate(gt.words):
            problem = polygon_problem(word.polygon, size.height, size.width)
            if problem is not None:
                problems[problem.kind].append(f"{_where(gt, index, word)}: {problem.detail}")
            elif _self_intersecting(word.polygon):
                problems["self_intersecting"].append(_where(gt, index, word))
            xs, ys = word.polygon[0::2], word.polygon[1::2]
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                "segmentation": [word.polygon], "text": word.text, "ignore": int(word.ignore),
                "iscrowd": 0, "area": polygon_area(word.polygon),
            })
    _warn_polygons(problems)
    if rotated:
        logger.warning(
            f"{len(rotated)} image(s) carry an EXIF rotation (e.g. {rotated[0]}): their sizes are "
            "those after rotation, as detectron2 reads them; check that their ground truth is "
            "in the rotated frame"
        )
    return {"images": out_images, "annotations": annotations,
            "categories": [{"id": 1, "name": "text"}]}


def convert(fmt: str, images_dir: str, gt_path: str, out_file: str,
            lexicon_dir: Optional[str] = None, progress: bool = True,
            legible_only: bool = False) -> Dict[str, Any]:
    """Read ``fmt`` ground truth, write ``out_file`` (JSON) and return its content.

    ``legible_only``: keep only the images with at least one legible word (not don't-care;
    for MLT17, a legible word of a kept script: the paper's filtered MLT17 of §4.1); the
    count of dropped images is logged and stored in the JSON's ``"info"``.
    """
    if fmt not in READERS:
        raise ValueError(f"Unknown format {fmt!r}; one of {', '.join(READERS)}")
    images = tqdm(READERS[fmt](images_dir, gt_path), desc=f"{fmt}", unit=" images",
                  disable=not progress)
    dropped: List[str] = []
    if legible_only:
        images = _legible(images, dropped)
    data = to_text_json(images, images_dir, lexicon_dir)
    if legible_only:
        data["info"] = {"filter": "legible_only", "kept_images": len(data["images"]),
                        "dropped_images": len(dropped)}
        logger.info(f"Legible-only filter: kept {len(data['images'])} of "
                    f"{len(data['images']) + len(dropped)} images ({len(dropped)} without a "
                    "legible word dropped)")
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    tmp_file = out_file + ".tmp"
    with open(tmp_file, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, allow_nan=False)
    os.replace(tmp_file, out_file)
    num_ignored = sum(a["ignore"] for a in data["annotations"])
    logger.info(f"Wrote {out_file}: {len(data['images'])} images, {len(data['annotations'])} "
                f"text instances ({num_ignored} don't-care)")
    return data


def _legible(images: Iterable[ImageGT], dropped: List[str]) -> Iterator[ImageGT]:
    """The images with at least one legible word; the others' names go to ``dropped``."""
    for gt in images:
        if any(not w.ignore for w in gt.words):
            yield gt
        else:
            dropped.append(gt.file_name)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m dld_spotter.data.convert", description=__doc__.split("\n\n")[0])
    parser.add_argument("format", choices=sorted(READERS))
    parser.add_argument("--images", required=True, help="folder of the images")
    parser.add_argument("--gt", required=True,
                        help="folder of ground-truth files, one file, or SynthText's gt.mat")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    parser.add_argument("--lexicons", help="folder of per-image strong lexicons (voc_*.txt)")
    parser.add_argument("--legible-only", action="store_true",
                        help="drop images without a legible word (MLT17: of a kept script)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        convert(args.format, args.images, args.gt, args.out, args.lexicons,
                progress=not args.no_progress, legible_only=args.legible_only)
    except (OSError, ValueError) as e:  # FileNotFoundError included
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
