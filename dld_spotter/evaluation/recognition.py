"""Recognition accuracy on ground-truth boxes (the "Rec" column of the paper's Table 8).

The model reads the ground-truth regions itself: their boxes, scaled to the network input,
go through ``model.inference(..., detected_instances=...)`` (masks, then texts, for given
boxes), and each reading of a care instance is compared to its transcription ignoring case.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
from detectron2.structures import Boxes, BoxMode, Instances
from detectron2.utils import comm
from torch import nn

from ..data.formats import DONT_CARE
from ..modeling.modes import eval_mode
from .protocol import Protocol

__all__ = ["annotation_boxes", "care_annotations", "gt_box_readings", "recognition_accuracy"]


# The evaluation's don't-care rule, without word-spotting rules.
_CARE_RULE = Protocol()


def care_annotations(dataset_dict: dict) -> list[dict]:
    """The annotations that are not don't-care under :meth:`Protocol.is_dont_care`."""
    return [
        a for a in dataset_dict.get("annotations", [])
        if not _CARE_RULE.is_dont_care(a.get("text", DONT_CARE), a.get("ignore", 0))
    ]


def annotation_boxes(inp: dict, annotations: list[dict]) -> Boxes:
    """The annotations' boxes (XYXY) in the coordinates of ``inp["image"]`` (the network
    input)."""
    _, height, width = inp["image"].shape
    scale_x, scale_y = width / inp["width"], height / inp["height"]
    boxes = torch.tensor(
        [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations],
        dtype=torch.float32,
    ).reshape(-1, 4)
    return Boxes(boxes * torch.tensor([scale_x, scale_y, scale_x, scale_y]))


def _given_boxes(inp: dict, annotations: list[dict], device) -> Instances:
    """The annotations as ``pred_boxes`` of the network input."""
    instances = Instances(tuple(inp["image"].shape[1:]))
    instances.pred_boxes = annotation_boxes(inp, annotations).to(device)
    instances.pred_classes = torch.zeros(len(annotations), dtype=torch.long, device=device)
    return instances


def gt_box_readings(
    model: nn.Module, data_loader: Iterable[list[dict]], dataset_dicts: Mapping
) -> list[tuple[str, str]]:
    """(ground-truth text, predicted text) of every care instance of the loader's images.

    Args:
        model: a text spotter (``GeneralizedRCNN`` whose RoI heads read text).
        data_loader: batches of model inputs (``image``, ``height``, ``width``, ``image_id``).
        dataset_dicts: ground truth by ``image_id``.
    """
    pairs = []
    with torch.no_grad(), eval_mode(model):
        for batch in data_loader:
            annotations = [care_annotations(dataset_dicts[x["image_id"]]) for x in batch]
            given = [_given_boxes(x, a, model.device) for x, a in zip(batch, annotations)]
            results = model.inference(batch, detected_instances=given, do_postprocess=False)
            for anns, result in zip(annotations, results):
                pairs.extend((a["text"], str(t)) for a, t in zip(anns, result.pred_texts))
    return pairs


def recognition_accuracy(
    model: nn.Module, data_loader: Iterable[list[dict]], dataset_dicts: Mapping
) -> dict[str, float]:
    """Share of care instances read correctly (case-insensitive) from their ground-truth boxes.
    In a distributed run, each process reads its shard of the loader and the main process
    returns the total.

    Returns:
        ``{"rec_accuracy": percent, "rec_correct": count, "rec_total": count}`` (empty on
        the other processes).
    """
    pairs = gt_box_readings(model, data_loader, dataset_dicts)
    correct = sum(gt.casefold() == pred.casefold() for gt, pred in pairs)
    counts = comm.gather((correct, len(pairs)), dst=0)
    if not comm.is_main_process():
        return {}
    correct, total = (sum(c[i] for c in counts) for i in (0, 1))
    return {
        "rec_accuracy": 100.0 * correct / total if total else 0.0,
        "rec_correct": float(correct),
        "rec_total": float(total),
    }
