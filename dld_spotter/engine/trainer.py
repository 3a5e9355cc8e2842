"""``TextSpotterTrainer``: detectron2's ``DefaultTrainer`` with the text data pipeline,
the text-spotting evaluator and the paper's AdamW optimizer, strict checkpoints, one run per
``OUTPUT_DIR`` and SIGTERM handled like Ctrl-C."""
from __future__ import annotations

import logging
import os
import weakref
from typing import Sequence

import torch
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase
from detectron2.engine.defaults import create_ddp_model
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import setup_logger

from ..checkpoint import TextCheckpointer, load_strict
from ..data.build import (
    StreamLoader,
    build_text_test_loader,
    build_text_train_loader,
    heldout_real_crops,
    heldout_stream_crops,
)
from ..evaluation import TextSpottingEvaluator, model_metrics, report_table
from ..files import lock_output_dir
from ..modeling.dld import DLDSpotter
from ..modeling.modes import eval_mode
from ..modeling.pretrainer import RecognitionPretrainer
from ..modeling.selector import FixedResolution
from .hooks import SaveOnInterruptHook, ScaleFlopsHook, build_dld_hooks
from .signals import sigterm_raises

logger = logging.getLogger(__name__)


def unwrap_ddp(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP wrapper, or ``model`` itself."""
    return model.module if hasattr(model, "module") else model


class TextSpotterTrainer(DefaultTrainer):
    """Trains any meta-architecture of this project from a config.

    Same construction as ``DefaultTrainer``, except that

    - the main process locks ``OUTPUT_DIR`` (:func:`~dld_spotter.files.lock_output_dir`): a
      second run there is refused;
    - checkpoints load strictly and save atomically
      (:class:`~dld_spotter.checkpoint.TextCheckpointer`);
    - DDP gets ``device_ids`` only for CUDA models: CPU processes (gloo) train too, e.g.
      ``train_net.py --num-gpus 2`` on a machine without GPUs.
    """

    def __init__(self, cfg):
        # Not super().__init__(cfg): DefaultTrainer.__init__ hard-codes
        # create_ddp_model(model, broadcast_buffers=False), whose device_ids=[local rank] DDP
        # refuses for a CPU model, and a DetectionCheckpointer that its build_hooks passes to
        # PeriodicCheckpointer before a subclass could replace it. Its body, those two changed.
        TrainerBase.__init__(self)
        if not logging.getLogger("detectron2").isEnabledFor(logging.INFO):
            setup_logger()
        if comm.is_main_process() and cfg.OUTPUT_DIR:
            lock_output_dir(cfg.OUTPUT_DIR)
        cfg = DefaultTrainer.auto_scale_workers(cfg, comm.get_world_size())
        model = self.build_model(cfg)
        optimizer = self.build_optimizer(cfg, model)
        data_loader = self.build_train_loader(cfg)
        model = self.wrap_ddp(model)
        trainer_cls = AMPTrainer if cfg.SOLVER.AMP.ENABLED else SimpleTrainer
        self._trainer = trainer_cls(model, data_loader, optimizer)
        self.scheduler = self.build_lr_scheduler(cfg, optimizer)
        self.checkpointer = TextCheckpointer(model, cfg.OUTPUT_DIR, trainer=weakref.proxy(self))
        self.start_iter = 0
        self.max_iter = cfg.SOLVER.MAX_ITER
        self.cfg = cfg
        self.register_hooks(self.build_hooks())

    def resume_or_load(self, resume: bool = True, allow_partial: bool = False) -> None:
        """detectron2's, with a clear error when ``MODEL.WEIGHTS`` names no file (instead of
        an assertion deep in fvcore), weights of another architecture refused unless
        ``allow_partial`` (:class:`~dld_spotter.checkpoint.TextCheckpointer`), and a stream
        resumed from iteration N continuing with fresh data (its seeds take N). A new run
        then loads ``MODEL.DLD.DRS.WEIGHTS`` (if set) into a DLD student's selector."""
        weights = self.cfg.MODEL.WEIGHTS
        resuming = resume and self.checkpointer.has_checkpoint()
        if weights and not resuming and not PathManager.isfile(weights):
            raise FileNotFoundError(
                f"MODEL.WEIGHTS {weights!r} does not exist. It is the checkpoint this config "
                "starts from: train it first (e.g. configs/synth/pretrain_tiny.yaml for "
                "configs/synth/teacher_tiny.yaml; scripts/train_teacher.sh runs both), or "
                "pass MODEL.WEIGHTS \"\" to train from scratch")
        self.checkpointer.allow_partial = allow_partial
        super().resume_or_load(resume=resume)
        if not resuming:
            load_selector_start(self.cfg, unwrap_ddp(self.model))
        if isinstance(self.data_loader, StreamLoader):
            self.data_loader.stream.start_iter = self.start_iter

    def train(self):
        """detectron2's, with SIGTERM stopping it like Ctrl-C (``model_interrupted.pth``)."""
        with sigterm_raises():
            return super().train()

    @staticmethod
    def wrap_ddp(model: torch.nn.Module) -> torch.nn.Module:
        """DDP across processes when there are several; ``model`` itself otherwise."""
        on_cuda = next(model.parameters()).device.type == "cuda"
        device_ids = [comm.get_local_rank()] if on_cuda else None
        return create_ddp_model(model, broadcast_buffers=False, device_ids=device_ids)

    @classmethod
    def build_train_loader(cls, cfg):
        """:func:`~dld_spotter.data.build.build_text_train_loader`."""
        return build_text_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        """:func:`~dld_spotter.data.build.build_text_test_loader`."""
        return build_text_test_loader(cfg, dataset_name)

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
        module = unwrap_ddp(model)
        if isinstance(module, RecognitionPretrainer):
            return {"heldout_crops": heldout_crop_accuracy(cfg, module)}
        results = super().test(cfg, model, evaluators)
        names = list(cfg.DATASETS.TEST)
        per_dataset = results if len(names) != 1 else {names[0]: results}
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
        ``SOLVER.REC_LR_FACTOR``, a DLD selector's by ``MODEL.DLD.DRS.LR_FACTOR``."""
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
        spotter = model.spotter if isinstance(model, DLDSpotter) else model
        recognizer = getattr(getattr(spotter, "roi_heads", None), "recognizer", None)
        if recognizer is not None and cfg.SOLVER.REC_LR_FACTOR != 1.0:
            params = scale_lr_of(params, recognizer, cfg.SOLVER.REC_LR_FACTOR)
        selector = getattr(model, "selector", None)
        if selector is not None and cfg.MODEL.DLD.DRS.LR_FACTOR != 1.0:
            params = scale_lr_of(params, selector, cfg.MODEL.DLD.DRS.LR_FACTOR)
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
        model = unwrap_ddp(self.model)
        if isinstance(model, DLDSpotter):  # teacher, temperature, FLOPs per scale
            hooks[1:1] = build_dld_hooks(self.cfg, model)
        return hooks


def load_selector_start(cfg, model: torch.nn.Module) -> None:
    """Load ``MODEL.DLD.DRS.WEIGHTS`` (if set) into a DLD student's selector, as a new run
    starts."""
    weights = cfg.MODEL.DLD.DRS.WEIGHTS
    if weights and isinstance(model, DLDSpotter) and not isinstance(model.selector,
                                                                   FixedResolution):
        load_strict(model.selector, weights,
                    "MODEL.DLD.DRS.WEIGHTS is a selector of this config's DRS shape, "
                    "written by tools/train_selector.py")


def build_training_model(cfg) -> torch.nn.Module:
    """The model of ``cfg`` as a new training run starts it, outside a trainer:
    ``MODEL.WEIGHTS`` (keys it lacks, such as a new selector, keep their initialisation), then
    ``MODEL.DLD.DRS.WEIGHTS``, and a DLD student's teacher and FLOPs table (its hooks'
    set-up)."""
    model = TextSpotterTrainer.build_model(cfg)
    TextCheckpointer(model).resume_or_load(cfg.MODEL.WEIGHTS, resume=False)
    if isinstance(model, DLDSpotter):
        load_selector_start(cfg, model)
        for hook in build_dld_hooks(cfg, model):
            if isinstance(hook, ScaleFlopsHook):
                hook.before_train()
    return model


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


def _accuracy(model: RecognitionPretrainer, crops: Sequence[dict], batch_size: int) -> tuple:
    """(accuracy %, number of words, first (truth, reading) pairs) of greedy readings."""
    with eval_mode(model):
        pairs = [p for i in range(0, len(crops), batch_size)
                 for p in model.read_ground_truth(crops[i:i + batch_size])]
    correct = sum(model.roi_heads.charset.normalize(t) == r for t, r in pairs)
    return 100.0 * correct / max(len(pairs), 1), len(pairs), pairs[:5]


def heldout_crop_accuracy(cfg, model: RecognitionPretrainer, batch_size: int = 50) -> dict:
    """Greedy word accuracy (%, the charset's case rule) of ``model`` on the held-out word
    crops of the stream (:func:`~dld_spotter.data.build.heldout_stream_crops`) and, when the
    config holds real crops out, on those
    (:func:`~dld_spotter.data.build.heldout_real_crops`)."""
    acc, num, pairs = _accuracy(model, heldout_stream_crops(cfg), batch_size)
    result = {"word_accuracy": acc, "num_words": num}
    logger.info(f"Held-out word crops: {acc:.1f} % of {num} read; e.g. "
                + ", ".join(f"{t!r}->{r!r}" for t, r in pairs))
    crops = heldout_real_crops(cfg)
    if crops is not None:
        acc, num, pairs = _accuracy(model, crops, batch_size)
        result.update(real_word_accuracy=acc, real_num_words=num)
        logger.info(f"Held-out real word crops: {acc:.1f} % of {num} read; e.g. "
                    + ", ".join(f"{t!r}->{r!r}" for t, r in pairs))
    return result
