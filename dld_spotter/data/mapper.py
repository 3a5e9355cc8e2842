"""TextDatasetMapper: one dataset dict -> model input, with polygon-aware augmentation."""
from __future__ import annotations

import copy
import logging
import time
from collections import Counter
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
from detectron2.config import CfgNode, configurable
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import Boxes, Instances, PolygonMasks

from dld_spotter.charset import IGNORE, Charset, EncodeStats, build_charset

from .datasets import POLYGON_PROBLEMS, polygon_problem
from .image_io import read_image
from .stream import text_heights
from .transforms import build_text_test_augmentation, build_text_train_augmentation

__all__ = ["TextDatasetMapper"]

logger = logging.getLogger(__name__)

_SHOWN_POLYGON_WARNINGS = 5  # per mapper; the rest are counted in ``counts``


def read_image_or_explain(file_name: str, image_format: str) -> np.ndarray:
    """:func:`~dld_spotter.data.image_io.read_image` (the project's one image reader: 16-bit
    greyscale scaled to 8 bits, errors that name the file and what to do)."""
    return read_image(file_name, image_format)


def base_sizes(cfg: CfgNode, split: str) -> Tuple[int, ...]:
    """``DATASETS.{split}_BASE_SIZES``: one base resolution S per ``DATASETS.{split}`` entry,
    or ``()`` (every set at ``INPUT.MIN_SIZE_{split}``)."""
    names, sizes = cfg.DATASETS[split], tuple(cfg.DATASETS[f"{split}_BASE_SIZES"])
    if sizes and len(sizes) != len(names):
        raise ValueError(f"DATASETS.{split}_BASE_SIZES {list(sizes)} must give one size per "
                         f"DATASETS.{split} entry {list(names)} (or be empty)")
    if sizes and split == "TRAIN" and not cfg.DATASETS.TRAIN_RATIOS:
        raise ValueError("DATASETS.TRAIN_BASE_SIZES needs DATASETS.TRAIN_RATIOS (the mixed "
                         "loader tags each image with its set's size)")
    return sizes


def _polygons(dataset_dict: dict, index: int, anno: dict) -> List[np.ndarray]:
    """The (K, 2) polygons of one annotation, validated."""
    polys = [np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in anno["segmentation"]]
    if not polys or any(len(p) < 3 or not np.isfinite(p).all() for p in polys):
        raise ValueError(
            f"{dataset_dict['file_name']}: annotation #{index} (id {anno.get('id', '?')}) has a "
            "segmentation that is not a list of polygons with >= 3 finite (x, y) points; fix or "
            "remove it in the annotation file."
        )
    return polys


class TextDatasetMapper:
    """Reads, augments and formats one text-spotting dataset dict.

    Output (training): ``image`` (3, H, W) uint8 in ``image_format``; ``instances`` with
    ``gt_boxes`` (the transformed polygons' bounding boxes clipped to the image),
    ``gt_classes`` (N,), ``gt_masks`` (PolygonMasks), ``gt_texts`` (N, max_len + 1) long,
    whose don't-care rows (``ignore=1``) are all -1, and ``gt_text_heights`` (N,), each word's
    height in input pixels (:func:`~dld_spotter.data.stream.text_heights`). A dict may carry
    its image in memory (``"image"``, (H, W, 3) in ``image_format``) instead of a file.
    Instances whose box ends up narrower or shorter than 1 px (e.g. outside the crop) are
    dropped, and so are polygons that the loader would have dropped (far outside the image,
    wholly outside it, or of zero area: :func:`~dld_spotter.data.datasets.polygon_problem`),
    for dicts that do not come from :func:`~dld_spotter.data.load_text_json`, with a warning
    naming the file and the annotation. Test mode: resized image only;
    ``height``/``width`` keep the original size.

    Words that the charset cannot encode train detection only; :attr:`encode_stats` counts
    them and a WARNING summary is logged at most every ``log_period`` seconds.
    :attr:`counts` holds the numbers of images, instances and dropped instances (and of
    polygons dropped as unusable, ``bad_polygons``).
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: List[T.Augmentation],
        image_format: str,
        charset: Optional[Charset] = None,
        log_period: float = 60.0,
        augmentations_by_base_size: Optional[Dict[int, List[T.Augmentation]]] = None,
    ):
        if is_train and charset is None:
            raise ValueError("TextDatasetMapper: a charset is required in training")
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.augmentations_by_base_size = {
            size: T.AugmentationList(augs)
            for size, augs in (augmentations_by_base_size or {}).items()}
        self.image_format = image_format
        self.charset = charset
        self.log_period = log_period
        self.encode_stats = EncodeStats()
        self.counts: Counter = Counter()
        self._last_warning: Optional[float] = None
        mode = "training" if is_train else "inference"
        logger.info(f"[TextDatasetMapper] augmentations used in {mode}: {augmentations}")

    @classmethod
    def from_config(cls, cfg: CfgNode, is_train: bool = True, dataset_name: str = "") -> Dict:
        """Test mode: ``dataset_name`` picks its ``DATASETS.TEST_BASE_SIZES`` entry, if any.
        Training: one augmentation list per ``DATASETS.TRAIN_BASE_SIZES`` entry, used for the
        dicts whose ``"base_size"`` names it (the mixed loader sets it)."""
        if is_train:
            return {
                "is_train": True,
                "augmentations": build_text_train_augmentation(cfg),
                "augmentations_by_base_size": {
                    s: build_text_train_augmentation(cfg, s)
                    for s in base_sizes(cfg, "TRAIN")},
                "image_format": cfg.INPUT.FORMAT,
                "charset": build_charset(cfg),
            }
        sizes = dict(zip(cfg.DATASETS.TEST, base_sizes(cfg, "TEST")))
        return {
            "is_train": False,
            "augmentations": build_text_test_augmentation(cfg, sizes.get(dataset_name, 0)),
            "image_format": cfg.INPUT.FORMAT,
        }

    def __call__(self, dataset_dict: dict) -> dict:
        image = dataset_dict.get("image")  # in memory (the synthetic stream), else a file
        dataset_dict = copy.deepcopy({k: v for k, v in dataset_dict.items() if k != "image"})
        if image is None:
            image = read_image_or_explain(dataset_dict["file_name"], self.image_format)
        utils.check_image_size(dataset_dict, image)

        if not self.is_train:
            dataset_dict.pop("annotations", None)
            aug_input = T.AugInput(image)
            self.augmentations(aug_input)
            dataset_dict["image"] = self._to_tensor(aug_input.image)
            return dataset_dict

        annos = [a for a in dataset_dict.pop("annotations", []) if not a.get("iscrowd", 0)]
        polys = [self._usable(dataset_dict, i, a, _polygons(dataset_dict, i, a), image.shape)
                 for i, a in enumerate(annos)]
        unusable = sum(not ps for ps in polys)  # no polygon left: not even a box to crop around
        annos = [a for a, ps in zip(annos, polys) if ps]
        polys = [ps for ps in polys if ps]
        aug_input = T.AugInput(image, boxes=self._poly_boxes(polys))
        transforms = self._train_augmentations(dataset_dict)(aug_input)
        image = aug_input.image
        dataset_dict["image"] = self._to_tensor(image)

        # The polygons, not the boxes (which would grow under rotation), follow the pixels; a
        # crop leaves the instances outside its window with no polygon.
        polys = [transforms.apply_polygons(ps) for ps in polys]
        h, w = image.shape[:2]
        boxes = np.clip(self._poly_boxes(polys), 0, [w, h, w, h])
        keep = np.flatnonzero((boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1))
        self.counts.update(images=1, instances=len(annos) + unusable,
                           dropped=len(annos) + unusable - len(keep))

        instances = Instances((h, w))
        instances.gt_boxes = Boxes(torch.as_tensor(boxes[keep], dtype=torch.float32))
        instances.gt_classes = torch.tensor(
            [annos[i]["category_id"] for i in keep], dtype=torch.long
        )
        instances.gt_masks = PolygonMasks([[p.reshape(-1) for p in polys[i]] for i in keep])
        instances.gt_texts = self._encode([annos[i] for i in keep])
        instances.gt_text_heights = torch.as_tensor(
            text_heights([polys[i][0] for i in keep]), dtype=torch.float32
        )
        dataset_dict["instances"] = instances
        return dataset_dict

    def _usable(self, dataset_dict: dict, index: int, anno: dict, polys: List[np.ndarray],
                shape: Tuple[int, ...]) -> List[np.ndarray]:
        """``polys`` without those that :func:`polygon_problem` rejects (a coordinate of 1e9
        would make the mask rasterisation of training use memory in proportion to it)."""
        kept = []
        for p in polys:
            problem = polygon_problem(p.ravel().tolist(), shape[0], shape[1])
            if problem is None:
                kept.append(p)
                continue
            self.counts.update(bad_polygons=1)
            if self.counts["bad_polygons"] <= _SHOWN_POLYGON_WARNINGS:
                more = (" (further ones are counted, not shown)"
                        if self.counts["bad_polygons"] == _SHOWN_POLYGON_WARNINGS else "")
                logger.warning(
                    f"[TextDatasetMapper] {dataset_dict.get('file_name', '?')}: annotation "
                    f"#{index} (id {anno.get('id', '?')}): dropped a polygon "
                    f"{POLYGON_PROBLEMS[problem.kind]}: {problem.detail}{more}"
                )
        return kept

    def _train_augmentations(self, dataset_dict: dict) -> T.AugmentationList:
        """The augmentations of the dict's ``"base_size"`` (the mixed loader's), else the
        config's."""
        if "base_size" not in dataset_dict:
            return self.augmentations
        size = dataset_dict["base_size"]
        if size not in self.augmentations_by_base_size:
            raise KeyError(f"{dataset_dict.get('file_name', '?')}: base_size {size} is not "
                           f"one of DATASETS.TRAIN_BASE_SIZES "
                           f"{sorted(self.augmentations_by_base_size)}")
        return self.augmentations_by_base_size[size]

    def _encode(self, annos: List[dict]) -> torch.Tensor:
        """(N, max_len + 1) targets; don't-care rows all -1; unknown characters reported."""
        texts = torch.full((len(annos), self.charset.seq_length), IGNORE, dtype=torch.long)
        care = [i for i, a in enumerate(annos) if not a.get("ignore", 0)]
        encoded, stats = self.charset.encode_batch([annos[i]["text"] for i in care])
        texts[care] = encoded
        if stats:
            self.encode_stats.update(stats)
            now = time.monotonic()
            if self._last_warning is None or now - self._last_warning >= self.log_period:
                self._last_warning = now
                logger.warning(
                    f"[TextDatasetMapper] so far, over {self.counts['images']} image(s): "
                    f"{self.encode_stats.summary()}. Set MODEL.TEXT.CHARSET or CHARSET_FILE "
                    "to cover them."
                )
        return texts

    @staticmethod
    def _poly_boxes(polys: List[List[np.ndarray]]) -> np.ndarray:
        """(N, 4) XYXY bounding boxes of each instance's polygons (zeros if it has none)."""
        boxes = np.zeros((len(polys), 4), dtype=np.float64)
        for i, ps in enumerate(polys):
            if not ps:
                continue
            pts = np.concatenate(ps)
            boxes[i, :2], boxes[i, 2:] = pts.min(0), pts.max(0)
        return boxes

    @staticmethod
    def _to_tensor(image: np.ndarray) -> torch.Tensor:
        """(H, W, C) array -> (C, H, W) tensor."""
        return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
