"""Metrics measured on the model rather than on its predictions: cost (FLOPs, speed) and
recognition accuracy on ground-truth boxes. ``TextSpotterTrainer.test`` adds them to every
evaluation."""
from __future__ import annotations

import inspect
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Iterable

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from torch import nn

from .cost import evaluate_cost
from .recognition import recognition_accuracy
from .text_evaluator import format_results_table

__all__ = ["model_metrics", "report_table"]

logger = logging.getLogger(__name__)


def model_metrics(
    cfg: CfgNode,
    model: nn.Module,
    data_loader: Iterable[list[dict]],
    dataset_name: str,
    output_dir: str | None = None,
) -> OrderedDict:
    """``{"cost": {gflops, flops_images, fps, sec_per_image, speed_images}, "recognition":
    {rec_accuracy, rec_correct, rec_total}}`` of ``model`` (not wrapped in DDP) on a data set,
    as ``TEST.TEXT.{FLOPS_IMAGES, SPEED_IMAGES, SPEED_WARMUP, REC_ACCURACY}`` ask. Every
    process must call it (recognition accuracy reads each process's shard); the main process
    measures the cost on its shard and returns everything (the others return {}). With
    ``output_dir``, also writes ``model_metrics.json`` there.
    """
    text = cfg.TEST.TEXT
    results = OrderedDict()
    reads_given_boxes = "detected_instances" in inspect.signature(model.inference).parameters
    if text.REC_ACCURACY and not reads_given_boxes:
        logger.warning(
            f"{type(model).__name__}.inference takes no 'detected_instances': recognition "
            "accuracy on ground-truth boxes is skipped (set TEST.TEXT.REC_ACCURACY False)"
        )
    if text.REC_ACCURACY and reads_given_boxes:
        gt_by_id = {d["image_id"]: d for d in DatasetCatalog.get(dataset_name)}
        results["recognition"] = recognition_accuracy(model, data_loader, gt_by_id)
    if not comm.is_main_process():
        return OrderedDict()
    results["cost"] = evaluate_cost(
        model, data_loader, text.FLOPS_IMAGES, text.SPEED_IMAGES, text.SPEED_WARMUP
    )
    if output_dir:
        PathManager.mkdirs(output_dir)
        with PathManager.open(os.path.join(output_dir, "model_metrics.json"), "w") as f:
            json.dump(results, f, indent=1)
    return results


def report_table(dataset_name: str, results: dict) -> None:
    """Log one data set's evaluation (tasks ``text_spotting``, ``recognition``, ``cost``) as a
    table in the columns of the paper's Table 1."""
    merged = {k: v for task in results.values() if isinstance(task, dict) for k, v in task.items()}
    if "det_hmean" in merged:
        logger.info(f"Evaluation of {dataset_name} (%, GFLOPs, images/s):\n"
                    + format_results_table(merged))
