"""Trainer hooks of dld-spotter."""
from __future__ import annotations

import logging

from detectron2.data import DatasetCatalog, get_detection_dataset_dicts
from detectron2.engine import HookBase
from detectron2.utils import comm

from ..data.mapper import TextDatasetMapper
from ..data.stream import STREAM_DATASET
from ..distill.teacher import build_teacher
from ..evaluation.cost import measure_scale_flops
from ..modeling.drs import temperature

logger = logging.getLogger(__name__)


class SaveOnInterruptHook(HookBase):
    """Saves ``model_interrupted.pth`` when training stops before ``max_iter`` (Ctrl-C,
    SIGTERM, an exception), so that ``--resume`` continues from there instead of losing the
    work."""

    def __init__(self, checkpointer):
        self.checkpointer = checkpointer

    def after_train(self) -> None:
        trainer = self.trainer
        if trainer.iter >= trainer.max_iter or trainer.iter <= trainer.start_iter:
            return
        if comm.is_main_process():
            # Like detectron2's checkpoints, this one records ``trainer.iter``; resuming
            # continues after it (at most the one interrupted step is skipped).
            self.checkpointer.save("model_interrupted")
            logger.warning(
                "Training stopped at iteration %d of %d; saved %s/model_interrupted.pth. "
                "Run again with --resume to continue.",
                trainer.iter, trainer.max_iter, self.checkpointer.save_dir,
            )


class TeacherHook(HookBase):
    """Loads the frozen teacher of a DLD student (``MODEL.DLD.TEACHER.CONFIG`` / ``.WEIGHTS``)
    and attaches it to ``model`` at construction, so that a missing file or a mismatched
    architecture fails before training starts. The teacher stays out of the optimizer, DDP
    and the student's checkpoints."""

    def __init__(self, cfg, model):
        teacher_cfg = cfg.MODEL.DLD.TEACHER
        self.teacher = build_teacher(teacher_cfg.CONFIG, teacher_cfg.WEIGHTS, cfg.MODEL.DEVICE)
        model.set_teacher(self.teacher, source=teacher_cfg.CONFIG)
        logger.info("DLD teacher: %s with %s (frozen, eval mode)", teacher_cfg.CONFIG,
                    teacher_cfg.WEIGHTS)

    def before_step(self) -> None:
        self.teacher.eval()  # whatever called .train() on modules in between


class TemperatureHook(HookBase):
    """Sets the selector's Gumbel-softmax temperature before each step:
    ``tau = tau_init * decay ** epoch``, an epoch being ``dataset_size`` images
    (``MODEL.DLD.DRS.EPOCH_IMAGES``, else the training set's size)."""

    def __init__(self, model, tau_init: float, decay: float, dataset_size: int,
                 ims_per_batch: int):
        self.model = model
        self.tau_init, self.decay = tau_init, decay
        self.dataset_size, self.ims_per_batch = max(dataset_size, 1), ims_per_batch

    def epoch(self, iteration: int) -> int:
        return iteration * self.ims_per_batch // self.dataset_size

    def before_step(self) -> None:
        self.model.selector.set_temperature(
            temperature(self.epoch(self.trainer.iter), self.tau_init, self.decay)
        )


class ScaleFlopsHook(HookBase):
    """Before training, measures the average forward FLOPs of each candidate scale on the
    first ``num_images`` training images (test-mode resize) unless the model has them
    (``MODEL.DLD.DRS.FLOPS``)."""

    def __init__(self, cfg, model):
        self.cfg, self.model = cfg, model

    def before_train(self) -> None:
        if self.model.selector.scale_flops.numel():
            return
        mapper = TextDatasetMapper(self.cfg, is_train=False)
        dicts = DatasetCatalog.get(self.cfg.DATASETS.TRAIN[0])
        inputs = [mapper(d) for d in dicts[: self.cfg.MODEL.DLD.DRS.FLOPS_NUM_IMAGES]]
        flops = measure_scale_flops(self.model, inputs)
        self.model.selector.set_scale_flops(flops)
        logger.info("DLD average forward GFLOPs per scale: %s", ", ".join(
            f"{s}: {f / 1e9:.2f}" for s, f in zip(self.model.scales, flops)))


def build_dld_hooks(cfg, model) -> list:
    """The hooks that train a ``DLDSpotter`` ``model`` (unwrapped from DDP)."""
    hooks = []
    if model.needs_teacher:
        hooks.append(TeacherHook(cfg, model))
    if model.selector.trains:  # Eq. 4's tau and T_i
        if STREAM_DATASET in cfg.DATASETS.TRAIN:
            raise ValueError(f"DATASETS.TRAIN {tuple(cfg.DATASETS.TRAIN)}: the selector's "
                             "temperature decays per epoch (tau = TAU_INIT * TAU_DECAY ** epoch), "
                             "so DLD with a selector needs a finite training set, e.g. "
                             "('synth_train',)")
        drs = cfg.MODEL.DLD.DRS
        epoch_images = drs.EPOCH_IMAGES or len(get_detection_dataset_dicts(
            cfg.DATASETS.TRAIN, filter_empty=cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS))
        hooks.append(TemperatureHook(model, drs.TAU_INIT, drs.TAU_DECAY, epoch_images,
                                     cfg.SOLVER.IMS_PER_BATCH))
        hooks.append(ScaleFlopsHook(cfg, model))
    return hooks
