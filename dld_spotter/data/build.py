"""Data loaders of a config (the role of detectron2's ``detectron2/data/build.py``): the
training loader (registered sets, concatenated or mixed in ratios, or the synthetic stream of
scenes or word crops, real word-crop folders mixed in), the test loader, the check that the
training words are readable with the config's charset, and the held-out word crops.

Nothing here needs a model: this module imports only ``dld_spotter.charset`` and ``data/``."""
from __future__ import annotations

import logging
import os
from typing import Iterator, Sequence

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import (
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
)

from ..charset import build_charset
from .datasets import builtin_root
from .mapper import TextDatasetMapper
from .mixed import build_mixed_train_loader
from .real_crops import FolderCropStream, MixedCropStream, WordCrop, load_word_crops
from .stream import (
    STREAM_DATASET,
    RenderedCropStream,
    SynthSceneStream,
    WordCropStream,
    first_crops,
)
from .synth import (
    REAL_DEGRADATIONS,
    SynthConfig,
    background_files,
    find_fonts,
    sample_word,
)

__all__ = [
    "StreamLoader",
    "build_text_train_loader",
    "build_text_test_loader",
    "check_readable_words",
    "stream_dataset",
    "real_heldout_counts",
    "real_word_crops",
    "heldout_stream_crops",
    "heldout_real_crops",
]

logger = logging.getLogger(__name__)


class StreamLoader:
    """The data loader of a synthetic stream, with the stream: a resumed training sets the
    stream's ``start_iter`` before the first batch, when the loader's workers copy it."""

    def __init__(self, stream: torch.utils.data.IterableDataset, loader):
        self.stream, self.loader = stream, loader

    def __iter__(self) -> Iterator[list]:
        return iter(self.loader)


def build_text_train_loader(cfg: CfgNode):
    """Concatenated ``DATASETS.TRAIN``, or mixed in ``DATASETS.TRAIN_RATIOS`` if given, or
    the synthetic stream (``("synth_stream",)``, a :class:`StreamLoader`), as scenes or as word
    crops (``INPUT.WORD_CROPS``). The training words are checked first
    (:func:`check_readable_words`)."""
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


def build_text_test_loader(cfg: CfgNode, dataset_name: str):
    """detectron2's test loader of ``dataset_name`` with the text mapper (the set's base size)."""
    mapper = TextDatasetMapper(cfg, is_train=False, dataset_name=dataset_name)
    return build_detection_test_loader(cfg, dataset_name, mapper=mapper)


def check_readable_words(cfg: CfgNode, source: str, texts: Sequence[str]) -> None:
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


def stream_dataset(cfg: CfgNode, mapper: TextDatasetMapper, tag: str,
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
    real = _real_crop_stream(cfg, "train")
    ratio = cfg.INPUT.WORD_CROPS.REAL_RATIO
    logger.info(f"Word crops: {len(real.crops)} real ({real.num_skipped} unreadable left out) "
                f"drawn {ratio:.0%} of the time, synthetic {1 - ratio:.0%}")
    return MixedCropStream([crops, real], [1 - ratio, ratio], cfg.DATASETS.STREAM_SEED)


def _under_root(folders: Sequence[str]) -> tuple[str, ...]:
    """``folders`` relative to ``$DLD_DATASETS`` unless absolute."""
    return tuple(os.path.join(builtin_root(), f) for f in folders)


def real_heldout_counts(cfg: CfgNode) -> tuple[int, ...]:
    """How many of the last crops of each of ``INPUT.WORD_CROPS.REAL_FOLDERS`` are held out:
    ``REAL_HELDOUT`` per folder, one count for all, or none when empty."""
    folders, held = cfg.INPUT.WORD_CROPS.REAL_FOLDERS, tuple(cfg.INPUT.WORD_CROPS.REAL_HELDOUT)
    if len(held) <= 1:
        held = (held[0] if held else 0,) * len(folders)
    if len(held) != len(folders) or any(int(n) != n or n < 0 for n in held):
        raise ValueError(f"INPUT.WORD_CROPS.REAL_HELDOUT {held} must hold one count (>= 0) for "
                         f"every folder of INPUT.WORD_CROPS.REAL_FOLDERS {tuple(folders)}, or "
                         "one count for all")
    return tuple(int(n) for n in held)


def real_word_crops(cfg: CfgNode, split: str) -> list[WordCrop]:
    """The crops of ``INPUT.WORD_CROPS.REAL_FOLDERS`` for ``split``: ``"train"`` all but the
    last ones of each folder (:func:`real_heldout_counts`), ``"heldout"`` those."""
    out = []
    for folder, held in zip(cfg.INPUT.WORD_CROPS.REAL_FOLDERS, real_heldout_counts(cfg)):
        crops = load_word_crops(_under_root([folder])[0])
        if held >= len(crops):
            raise ValueError(f"INPUT.WORD_CROPS.REAL_HELDOUT {held} holds out all of the "
                             f"{len(crops)} crops of {folder}")
        out += crops[:len(crops) - held] if split == "train" else crops[len(crops) - held:]
    return out


def _real_crop_stream(cfg: CfgNode, split: str) -> FolderCropStream:
    """The real crops of ``split`` (:func:`real_word_crops`) as a stream of tag ``split``,
    placed in crops of ``INPUT.WORD_CROPS.SIZE`` as in training."""
    return FolderCropStream(real_word_crops(cfg, split), cfg.DATASETS.STREAM_SEED, split,
                            build_charset(cfg), tuple(cfg.INPUT.WORD_CROPS.SIZE),
                            cfg.INPUT.FORMAT)


def heldout_stream_crops(cfg: CfgNode) -> list[dict]:
    """The first ``TEST.TEXT.HELDOUT_CROPS`` word crops of the held-out synthetic stream,
    training augmentation included (the crops the spotter's recognizer meets in training)."""
    stream = stream_dataset(cfg, TextDatasetMapper(cfg, is_train=True), "heldout", True)
    return first_crops(stream, cfg.TEST.TEXT.HELDOUT_CROPS)


def heldout_real_crops(cfg: CfgNode) -> list[dict] | None:
    """The held-out real word crops (the last ones of each of ``INPUT.WORD_CROPS.REAL_FOLDERS``:
    :func:`real_heldout_counts`), each placed once as in training with the fixed seed
    ``DATASETS.STREAM_SEED``; None when no real crops are held out."""
    if not any(real_heldout_counts(cfg)):
        return None
    real = _real_crop_stream(cfg, "heldout")
    rng = np.random.default_rng(cfg.DATASETS.STREAM_SEED)
    return [real.sample(i, rng) for i in range(len(real.crops))]
