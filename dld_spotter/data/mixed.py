"""Training on several data sets mixed in given ratios (``DATASETS.TRAIN_RATIOS``).

The data sets of ``DATASETS.TRAIN`` are concatenated; :class:`MixedTrainingSampler` draws the
data set of each sample with probability ``ratio / sum(ratios)`` and, within it, walks through
a fresh random permutation per pass, so small sets repeat and large ones are subsampled.
"""
from __future__ import annotations

import itertools
import logging
from typing import Iterator, List, Optional, Sequence

import torch
from detectron2.data import build_detection_train_loader, get_detection_dataset_dicts
from detectron2.utils import comm
from torch.utils.data import Sampler

from .mapper import base_sizes

logger = logging.getLogger(__name__)

_CHUNK = 1024  # data set choices drawn at once


class MixedTrainingSampler(Sampler):
    """Infinite stream of indices into the concatenation of data sets of ``sizes``.

    Like detectron2's ``TrainingSampler``: every process generates the same stream from
    ``seed`` and keeps the indices ``rank, rank + world_size, ...`` of it.
    """

    def __init__(self, sizes: Sequence[int], ratios: Sequence[float], seed: Optional[int] = None):
        """
        Args:
            sizes: number of samples of each data set, in concatenation order (all > 0).
            ratios: relative sampling frequency of each data set (all > 0).
            seed: shared by all processes; ``None`` = a random seed shared across processes.
        """
        if len(sizes) != len(ratios) or not sizes:
            raise ValueError(f"One ratio per data set: got {len(ratios)} ratio(s) for "
                             f"{len(sizes)} data set(s)")
        if any(s <= 0 for s in sizes) or any(r <= 0 for r in ratios):
            raise ValueError(f"Sizes and ratios must be positive, got sizes {list(sizes)}, "
                             f"ratios {list(ratios)}")
        self._sizes = [int(s) for s in sizes]
        self._offsets = [0] + list(itertools.accumulate(self._sizes))[:-1]
        self._probs = torch.tensor([float(r) for r in ratios], dtype=torch.float64)
        self._seed = int(comm.shared_random_seed() if seed is None else seed)
        self._rank = comm.get_rank()
        self._world_size = comm.get_world_size()

    def __iter__(self) -> Iterator[int]:
        yield from itertools.islice(self._infinite_indices(), self._rank, None, self._world_size)

    def _infinite_indices(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self._seed)
        orders: List[List[int]] = [[] for _ in self._sizes]
        while True:
            for k in torch.multinomial(self._probs, _CHUNK, True, generator=g).tolist():
                if not orders[k]:
                    orders[k] = torch.randperm(self._sizes[k], generator=g).tolist()[::-1]
                yield self._offsets[k] + orders[k].pop()


def build_mixed_train_loader(cfg, mapper, datasets: Optional[List[List[dict]]] = None):
    """detectron2's train loader over ``DATASETS.TRAIN`` mixed in ``DATASETS.TRAIN_RATIOS``;
    ``datasets``: the dicts of each set if already loaded."""
    names, ratios = list(cfg.DATASETS.TRAIN), list(cfg.DATASETS.TRAIN_RATIOS)
    if len(names) != len(ratios):
        raise ValueError(f"DATASETS.TRAIN_RATIOS {ratios} must give one ratio per "
                         f"DATASETS.TRAIN entry {names} (or be empty to concatenate them)")
    filter_empty = cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS
    per_set = datasets or [get_detection_dataset_dicts(name, filter_empty=filter_empty)
                           for name in names]
    sizes = base_sizes(cfg, "TRAIN")
    for dicts, size in zip(per_set, sizes):
        for d in dicts:
            d["base_size"] = size
    total = sum(ratios)
    for i, (name, dicts, ratio) in enumerate(zip(names, per_set, ratios)):
        at = f" at S-{sizes[i]}" if sizes else ""
        logger.info(f"Training mix: {name} ({len(dicts)} images) drawn {ratio / total:.1%} "
                    f"of the time{at}")
    sampler = MixedTrainingSampler([len(d) for d in per_set], ratios,
                                   seed=cfg.SEED if cfg.SEED >= 0 else None)
    return build_detection_train_loader(
        dataset=[d for dicts in per_set for d in dicts], mapper=mapper, sampler=sampler,
        total_batch_size=cfg.SOLVER.IMS_PER_BATCH,
        aspect_ratio_grouping=cfg.DATALOADER.ASPECT_RATIO_GROUPING,
        num_workers=cfg.DATALOADER.NUM_WORKERS,
    )
