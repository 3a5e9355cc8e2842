"""Metrics measured on the model rather than on its predictions: cost (FLOPs, speed) and
recognition accuracy on ground-truth boxes. ``TextSpotterTrainer.test`` adds them to every
evaluation."""
from __future__ import annotations

import inspect
import itertools
import json
import logging
import os
import statistics
from collections import OrderedDict
from collections.abc import Iterable

from detectron2.config import CfgNode
from detectron2.data import DatasetCatalog
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from torch import nn

from ..modeling.dld import DLDSpotter
from .cost import evaluate_cost, measure_scale_flops, measure_selector_flops, time_every_image
from .recognition import recognition_accuracy
from .text_evaluator import format_results_table

__all__ = ["dynamic_cost", "model_metrics", "report_table"]

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
    if getattr(model, "selector", None) is not None:
        results["cost"] = dynamic_cost(model, data_loader, text.FLOPS_IMAGES, text.SPEED_WARMUP)
        how = {
            "gflops": f"mean over all {results['cost'].get('flops_images', 0):.0f} images: the "
                      "selector + the per-scale table (fvcore, first "
                      f"{text.FLOPS_IMAGES} images) at each image's chosen scale",
            "fps": f"1 / mean time of all {results['cost']['speed_images']:.0f} images"}
    else:
        results["cost"] = evaluate_cost(
            model, data_loader, text.FLOPS_IMAGES, text.SPEED_IMAGES, text.SPEED_WARMUP
        )
        how = {"gflops": f"mean over the first {text.FLOPS_IMAGES} images (fvcore)",
                      "fps": f"1 / median time of {text.SPEED_IMAGES} images"}
    logger.info(f"Cost of {dataset_name}: {results['cost']} ({how})")
    if output_dir:
        PathManager.mkdirs(output_dir)
        with PathManager.open(os.path.join(output_dir, "model_metrics.json"), "w") as f:
            json.dump({**results, "cost_statistics": how}, f, indent=1)
    return results


def dynamic_cost(model: DLDSpotter, data_loader: Iterable[list[dict]], num_table_images: int,
                 warmup: int) -> dict[str, float]:
    """Cost of a model that picks each image's scale, as means over every image of
    ``data_loader`` (Table 1): GFLOPs = the selector's + the per-scale FLOPs table (measured on
    the first ``num_table_images``; 0 skips FLOPs) at each image's chosen scale; seconds per
    image = the mean time of every image after ``warmup`` untimed ones."""
    first = list(itertools.islice((x for batch in data_loader for x in batch),
                                  max(num_table_images, warmup)))
    times, outputs = time_every_image(model, data_loader, first[:warmup])
    sec = statistics.fmean(times)
    cost = {"fps": 1.0 / sec, "sec_per_image": sec, "speed_images": float(len(times))}
    if num_table_images > 0:
        table = dict(zip(model.scales, measure_scale_flops(model, first[:num_table_images])))
        spotter = statistics.fmean(table[out["scale"]] for out in outputs)
        cost["gflops"] = (measure_selector_flops(model, first[:1]) + spotter) / 1e9
        cost["flops_images"] = float(len(outputs))
    return cost


def report_table(dataset_name: str, results: dict) -> None:
    """Log one data set's evaluation (tasks ``text_spotting``, ``recognition``, ``cost``) as a
    table in the columns of the paper's Table 1."""
    merged = {k: v for task in results.values() if isinstance(task, dict) for k, v in task.items()}
    if "det_hmean" in merged:
        logger.info(f"Evaluation of {dataset_name} (%, GFLOPs, images/s):\n"
                    + format_results_table(merged))
