"""``TextSpotterTrainer``: detectron2's ``DefaultTrainer`` with the text data pipeline,
the text-spotting evaluator and the paper's AdamW optimizer."""
from __future__ import annotations

import logging
import os
import weakref

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import build_detection_test_loader, build_detection_train_loader
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase
from detectron2.engine.defaults import create_ddp_model
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from ..data.mapper import TextDatasetMapper
from ..data.mixed import build_mixed_train_loader
from ..evaluation import TextSpottingEvaluator, model_metrics, report_table
from ..modeling.dld import DLDSpotter
from .hooks import SaveOnInterruptHook, build_dld_hooks


class TextSpotterTrainer(DefaultTrainer):
    """Trains any meta-architecture of this project from a config.

    Same construction as ``DefaultTrainer``, except that DDP gets ``device_ids`` only for
    CUDA models: CPU processes (gloo) train too, e.g. ``train_net.py --num-gpus 2`` on a
    machine without GPUs.
    """

    def __init__(self, cfg):
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = self.wrap_ddp(model)
        trainer_cls = AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer
        self._trainer = trainer_cls(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = DetectionCheckpointer(model, cfg.OUTPUT_DIR,
                                                  trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    @staticmethod
    def wrap_ddp(model: torch.nn.Module) -> torch.nn.Module:
        """DDP across processes when there are several; ``model`` itself otherwise."""
        on_cuda = next(model.parameters()).device.type == "cuda"
        device_ids = [comm.get_local_rank()] if on_cuda else None
        return create_ddp_model(model, broadcast_buffers=False, device_ids=device_ids)

    @classmethod
    def build_train_loader(cls, cfg):
        """Concatenated ``DATASETS.TRAIN``, or mixed in ``DATASETS.TRAIN_RATIOS`` if given."""
        mapper = TextDatasetMapper(cfg, is_train=True)
        if cfg.DATASETS.TRAIN_RATIOS:
            return build_mixed_train_loader(cfg, mapper)
        return build_detection_train_loader(cfg, mapper=mapper)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        return build_detection_test_loader(
            cfg, dataset_name, mapper=TextDatasetMapper(cfg, is_train=False)
        )

    @classmethod
    def build_evaluator(cls, cfg, dataset_name: str, output_folder: str | None = None):
        if output_folder is None:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name)
        return TextSpottingEvaluator.from_config(cfg, dataset_name, output_folder)

    @classmethod
    def test(cls, cfg, model, evaluators=None):
        """detectron2's ``test``, plus, per data set, the cost (FLOPs, FPS) and recognition
        accuracy on ground-truth boxes (``TEST.TEXT.*``), logged with the text metrics as one
        table."""
        results = super().test(cfg, model, evaluators)
        names = list(cfg.DATASETS.TEST)
        per_dataset = results if len(names) != 1 else {names[0]: results}
        module = model.module if hasattr(model, "module") else model  # DDP
        for name in names:
            output_folder = os.path.join(cfg.OUTPUT_DIR, "inference", name)
            loader = cls.build_test_loader(cfg, name)
            for task, values in model_metrics(cfg, module, loader, name, output_folder).items():
                per_dataset[name].setdefault(task, {}).update(values)
            if comm.is_main_process():
                report_table(name, per_dataset[name])
        return results

    @classmethod
    def build_optimizer(cls, cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
        """``SOLVER.OPTIMIZER``: "AdamW" (the paper) or "SGD" (detectron2's default), with
        detectron2's per-parameter groups; the recognizer's learning rate is multiplied by
        ``SOLVER.REC_LR_FACTOR``."""
        name = cfg.SOLVER.OPTIMIZER
        if name not in ("AdamW", "SGD"):
            raise ValueError(f"SOLVER.OPTIMIZER must be 'AdamW' or 'SGD', got {name!r}")
        params = get_default_optimizer_params(
            model,
            base_lr=cfg.SOLVER.BASE_LR,
            weight_decay=cfg.SOLVER.WEIGHT_DECAY,
            weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
            bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
            weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
        )
        recognizer = getattr(getattr(model, "roi_heads", None), "recognizer", None)
        if recognizer is not None and cfg.SOLVER.REC_LR_FACTOR != 1.0:
            params = scale_lr_of(params, recognizer, cfg.SOLVER.REC_LR_FACTOR)
        if name == "SGD":
            optimizer = torch.optim.SGD(params, lr=cfg.SOLVER.BASE_LR,
                                        momentum=cfg.SOLVER.MOMENTUM,
                                        nesterov=cfg.SOLVER.NESTEROV,
                                        weight_decay=cfg.SOLVER.WEIGHT_DECAY)
        else:
            optimizer = torch.optim.AdamW(params, lr=cfg.SOLVER.BASE_LR,
                                          weight_decay=cfg.SOLVER.WEIGHT_DECAY)
        return maybe_add_gradient_clipping(cfg, optimizer)

    def build_hooks(self):
        hooks = super().build_hooks()
        hooks.insert(-1, SaveOnInterruptHook(self.checkpointer))
        model = self.model.module if hasattr(self.model, "module") else self.model  # DDP
        if isinstance(model, DLDSpotter):  # teacher, temperature, FLOPs per scale
            hooks[1:1] = build_dld_hooks(self.cfg, model)
        return hooks


def scale_lr_of(groups: list[dict], module: torch.nn.Module, factor: float) -> list[dict]:
    """Optimizer parameter ``groups`` with the parameters of ``module`` split off into
    groups of ``factor`` times the learning rate."""
    ours = {id(p) for p in module.parameters()}
    out = []
    for group in groups:
        inside = [p for p in group["params"] if id(p) in ours]
        outside = [p for p in group["params"] if id(p) not in ours]
        if outside:
            out.append({**group, "params": outside})
        if inside:
            out.append({**group, "params": inside, "lr": group["lr"] * factor})
    return out
