"""``TextSpotterTrainer``: detectron2's ``DefaultTrainer`` with the text data pipeline,
the text-spotting evaluator and the paper's AdamW optimizer, strict checkpoints, one run per
``OUTPUT_DIR`` and SIGTERM handled like Ctrl-C."""
from __future__ import annotations

import logging
import os
import weakref
from typing import Iterator, Sequence

import numpy as np
import torch
from detectron2.data import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)
from detectron2.engine import AMPTrainer, DefaultTrainer, SimpleTrainer, TrainerBase
from detectron2.engine.defaults import create_ddp_model
from detectron2.solver.build import get_default_optimizer_params, maybe_add_gradient_clipping
from detectron2.utils import comm
from detectron2.utils.file_io import PathManager
from detectron2.utils.logger import setup_logger

from ..charset import build_charset
from ..checkpoint import TextCheckpointer, load_strict
from ..data.datasets import builtin_root
from ..data.mapper import TextDatasetMapper
from ..data.mixed import build_mixed_train_loader
from ..data.real_crops import FolderCropStream, MixedCropStream, WordCrop, load_word_crops
from ..data.stream import (
    STREAM_DATASET,
    RenderedCropStream,
    SynthSceneStream,
    WordCropStream,
    first_crops,
)
from ..data.synth import (
    REAL_DEGRADATIONS,
    SynthConfig,
    background_files,
    find_fonts,
    sample_word,
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


class StreamLoader:
    """The data loader of a synthetic stream, with the stream: a resumed training sets the
    stream's ``start_iter`` before the first batch, when the loader's workers copy it."""

    def __init__(self, stream: torch.utils.data.IterableDataset, loader):
        self.stream, self.loader = stream, loader

    def __iter__(self) -> Iterator[list]:
        return iter(self.loader)


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
        """Concatenated ``DATASETS.TRAIN``, or mixed in ``DATASETS.TRAIN_RATIOS`` if given, or
        the synthetic stream (``("synth_stream",)``), as scenes or as word crops
        (``INPUT.WORD_CROPS``)."""
        mapper = TextDatasetMapper(cfg, is_train=True)
        if tuple(cfg.DATASETS.TRAIN) == (STREAM_DATASET,):
            rng, random_strings = np.random.default_rng(0), SynthConfig().random_string_prob
            check_readable_words(cfg, f"{STREAM_DATASET} (a sample of its words)",
                                 [sample_word(rng, random_strings) for _ in range(256)])
            stream = stream_dataset(cfg, mapper, "train", cfg.INPUT.WORD_CROPS.ENABLED)
            return StreamLoader(stream, build_detection_train_loader(
                dataset=stream,
                mapper=None if cfg.INPUT.WORD_CROPS.ENABLED else mapper,
                total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
                aspect_ratio_grouping=not cfg.INPUT.WORD_CROPS.ENABLED,
                num_workers=cfg.DATALOADER.NUM_WORKERS,
            ))
        if STREAM_DATASET in cfg.DATASETS.TRAIN:
            raise ValueError(f"DATASETS.TRAIN: {STREAM_DATASET!r} cannot be mixed with other "
                             f"sets, got {tuple(cfg.DATASETS.TRAIN)}")
        if cfg.INPUT.WORD_CROPS.ENABLED:
            raise ValueError("INPUT.WORD_CROPS needs DATASETS.TRAIN ('synth_stream',)")
        filter_empty = cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
        per_set = [get_detection_dataset_dicts(name, filter_empty=filter_empty)
                   for name in cfg.DATASETS.TRAIN]
        dicts = [d for set_dicts in per_set for d in set_dicts]
        check_readable_words(cfg, f"DATASETS.TRAIN {tuple(cfg.DATASETS.TRAIN)}",
                             [a["text"] for d in dicts for a in d["annotations"]
                              if not a.get("ignore", 0)])
        if cfg.DATASETS.TRAIN_RATIOS:
            return build_mixed_train_loader(cfg, mapper, datasets=per_set)
        return build_detection_train_loader(cfg, mapper=mapper, dataset=dicts)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name: str):
        mapper = TextDatasetMapper(cfg, is_train=False, dataset_name=dataset_name)
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

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


def check_readable_words(cfg, source: str, texts: Sequence[str]) -> None:
    """Fail before training if no word of ``texts`` (the training words of ``source``) can be
    read with the charset of ``MODEL.TEXT``: recognition would learn nothing (``loss_rec`` 0).
    Otherwise log how many can; the others train detection only."""
    charset = build_charset(cfg)
    readable = sum(charset.encode(t) is not None for t in texts)
    text = cfg.MODEL.TEXT
    described = (f"MODEL.TEXT.CHARSET_FILE {text.CHARSET_FILE!r}" if text.CHARSET_FILE else
                 f"MODEL.TEXT.CHARSET {text.CHARSET!r}" + (" (printable ASCII)" if not
                                                           text.CHARSET else ""))
    described += f", MAX_LENGTH {text.MAX_LENGTH}, CASE_SENSITIVE {text.CASE_SENSITIVE}"
    if not readable and cfg.MODEL.REC_HEAD.LOSS_WEIGHT > 0:
        examples = ", ".join(repr(t) for t in texts[:5]) or "none: every instance is don't-care"
        raise ValueError(f"{source}: none of its {len(texts)} words can be read with "
                         f"{described} (e.g. {examples}); recognition would train on nothing. "
                         "Set MODEL.TEXT.CHARSET or CHARSET_FILE to the data's characters")
    logger.info(f"{source}: {readable} of {len(texts)} words readable with {described}; the "
                "others train detection only")


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


def stream_dataset(cfg, mapper: TextDatasetMapper, tag: str,
                   word_crops: bool) -> torch.utils.data.IterableDataset:
    """The synthetic stream ``tag`` of ``DATASETS.STREAM_SEED``: scenes (to be mapped), or
    word crops of ``INPUT.WORD_CROPS.SIZE`` from ``INPUT.WORD_CROPS.SOURCE``."""
    source = cfg.INPUT.WORD_CROPS.SOURCE
    if source not in ("scenes", "rendered"):
        raise ValueError(f"INPUT.WORD_CROPS.SOURCE must be 'scenes' or 'rendered', got {source!r}")
    if word_crops and source == "rendered":
        return RenderedCropStream(cfg.DATASETS.STREAM_SEED, tag, build_charset(cfg),
                                  tuple(cfg.INPUT.WORD_CROPS.SIZE), cfg.INPUT.FORMAT)
    synth = cfg.DATASETS.STREAM_SYNTH
    extra = dict(REAL_DEGRADATIONS) if synth.DEGRADE else {}
    if synth.BACKGROUND_DIRS:
        extra.update(background_dirs=_under_root(synth.BACKGROUND_DIRS),
                     photo_background_prob=synth.PHOTO_BACKGROUND_PROB)
    synth_cfg = SynthConfig(min_words=synth.MIN_WORDS, max_words=synth.MAX_WORDS,
                            small_text_prob=synth.SMALL_TEXT_PROB,
                            large_text_prob=synth.LARGE_TEXT_PROB,
                            max_rotation=synth.MAX_ROTATION,
                            perspective_prob=synth.PERSPECTIVE_PROB, curved_prob=synth.CURVED_PROB,
                            **extra)
    if synth_cfg.background_dirs:
        files = background_files(synth_cfg.background_dirs)  # checked once, here
        logger.info(f"Synthetic scenes: {synth_cfg.photo_background_prob:.0%} on "
                    f"{len(files)} photographs of {', '.join(synth_cfg.background_dirs)}")
    scenes = SynthSceneStream(cfg.DATASETS.STREAM_SEED, tag, cfg.INPUT.FORMAT, synth_cfg,
                              find_fonts(_under_root(synth.FONT_DIRS)))
    if not word_crops:
        return scenes
    crops = WordCropStream(scenes, mapper, tuple(cfg.INPUT.WORD_CROPS.SIZE),
                           cfg.MODEL.REC_HEAD.MIN_TRAIN_HEIGHT)
    if tag != "train" or not cfg.INPUT.WORD_CROPS.REAL_FOLDERS:
        return crops
    real = FolderCropStream(real_word_crops(cfg, "train"), cfg.DATASETS.STREAM_SEED, tag,
                            build_charset(cfg), tuple(cfg.INPUT.WORD_CROPS.SIZE),
                            cfg.INPUT.FORMAT)
    ratio = cfg.INPUT.WORD_CROPS.REAL_RATIO
    logger.info(f"Word crops: {len(real.crops)} real ({real.num_skipped} unreadable left out) "
                f"drawn {ratio:.0%} of the time, synthetic {1 - ratio:.0%}")
    return MixedCropStream([crops, real], [1 - ratio, ratio], cfg.DATASETS.STREAM_SEED)


def _under_root(folders: Sequence[str]) -> tuple[str, ...]:
    """``folders`` relative to ``$DLD_DATASETS`` unless absolute."""
    return tuple(os.path.join(builtin_root(), f) for f in folders)


def real_word_crops(cfg, split: str) -> list[WordCrop]:
    """The crops of ``INPUT.WORD_CROPS.REAL_FOLDERS`` for ``split``: ``"train"`` all but the
    last ``REAL_HELDOUT`` of each folder, ``"heldout"`` those."""
    held = cfg.INPUT.WORD_CROPS.REAL_HELDOUT
    out = []
    for folder in cfg.INPUT.WORD_CROPS.REAL_FOLDERS:
        crops = load_word_crops(_under_root([folder])[0])
        if held >= len(crops):
            raise ValueError(f"INPUT.WORD_CROPS.REAL_HELDOUT {held} holds out all of the "
                             f"{len(crops)} crops of {folder}")
        out += crops[:len(crops) - held] if split == "train" else crops[len(crops) - held:]
    return out


def _accuracy(model: RecognitionPretrainer, crops: Sequence[dict], batch_size: int) -> tuple:
    """(accuracy %, number of words, first (truth, reading) pairs) of greedy readings."""
    with eval_mode(model):
        pairs = [p for i in range(0, len(crops), batch_size)
                 for p in model.read_ground_truth(crops[i:i + batch_size])]
    correct = sum(model.roi_heads.charset.normalize(t) == r for t, r in pairs)
    return 100.0 * correct / max(len(pairs), 1), len(pairs), pairs[:5]


def heldout_crop_accuracy(cfg, model: RecognitionPretrainer, batch_size: int = 50) -> dict:
    """Greedy word accuracy (%, the charset's case rule) of ``model`` on the first
    ``TEST.TEXT.HELDOUT_CROPS`` crops of the held-out stream, training augmentation included
    (the crops the spotter's recognizer meets in training), and on the held-out real crops
    (``INPUT.WORD_CROPS.REAL_HELDOUT``, placed as in training with a fixed seed)."""
    stream = stream_dataset(cfg, TextDatasetMapper(cfg, is_train=True), "heldout", True)
    acc, num, pairs = _accuracy(model, first_crops(stream, cfg.TEST.TEXT.HELDOUT_CROPS),
                                batch_size)
    result = {"word_accuracy": acc, "num_words": num}
    logger.info(f"Held-out word crops: {acc:.1f} % of {num} read; e.g. "
                + ", ".join(f"{t!r}->{r!r}" for t, r in pairs))
    if cfg.INPUT.WORD_CROPS.REAL_FOLDERS and cfg.INPUT.WORD_CROPS.REAL_HELDOUT:
        real = FolderCropStream(real_word_crops(cfg, "heldout"), cfg.DATASETS.STREAM_SEED,
                                "heldout", build_charset(cfg), tuple(cfg.INPUT.WORD_CROPS.SIZE),
                                cfg.INPUT.FORMAT)
        rng = np.random.default_rng(cfg.DATASETS.STREAM_SEED)
        crops = [real.sample(i, rng) for i in range(len(real.crops))]
        acc, num, pairs = _accuracy(model, crops, batch_size)
        result.update(real_word_accuracy=acc, real_num_words=num)
        logger.info(f"Held-out real word crops: {acc:.1f} % of {num} read; e.g. "
                    + ", ".join(f"{t!r}->{r!r}" for t, r in pairs))
    return result
