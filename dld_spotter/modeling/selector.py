"""The resolution part of DLD (§3.3): which scale each image runs at, and Eq. 2-4's losses.

``build_resolution_selector(cfg)``: :class:`FixedResolution` for ``MODEL.DLD.FIXED_SCALE`` > 0,
else the ``SELECTOR_REGISTRY`` entry named by ``MODEL.DLD.DRS.NAME``. A selector exposes
``scales``, ``trains``, :meth:`choose` (the test-time decision) and, when it trains,
:meth:`sample` and :meth:`losses`; it owns its temperature and its per-scale cost table.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from detectron2.config import configurable
from detectron2.structures import ImageList
from detectron2.utils.registry import Registry
from torch import nn

from ..distill.losses import (
    ACC_MEANS,
    DRS_ESTIMATORS,
    FLOPS_UNITS,
    KL_DIRECTIONS,
    acc_loss,
    check_option,
    expected_acc_loss,
    flops_in_unit,
    flops_loss,
)
from .drs import DynamicResolutionSelector, gumbel_softmax_sample

SELECTOR_REGISTRY = Registry("RESOLUTION_SELECTOR")
SELECTOR_REGISTRY.__doc__ = """Resolution selectors of DLD (``MODEL.DLD.DRS.NAME``): built with
``cfg``; see :class:`GumbelResolutionSelector` for the interface."""

# MODEL.DLD.DRS.ACC_DTYPE: the precision of the student's pass at every scale (L_acc's y_si).
ACC_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _check_scales(scales: Sequence[float]) -> Tuple[float, ...]:
    if not scales or not all(0.0 < s <= 1.0 for s in scales):
        raise ValueError(f"MODEL.DLD.SCALES must be scales in (0, 1], got {scales}")
    return tuple(float(s) for s in scales)


class FixedResolution(nn.Module):
    """Every image at one scale (``MODEL.DLD.FIXED_SCALE``): SKD-only and Vanilla students."""

    trains = False

    def __init__(self, scale: float, scales: Sequence[float]):
        super().__init__()
        self.scales = _check_scales(scales)
        self.scale = float(scale)

    def choose(self, images: ImageList) -> List[float]:
        return [self.scale] * len(images)


@SELECTOR_REGISTRY.register()
class GumbelResolutionSelector(DynamicResolutionSelector):
    """The Dynamic Resolution Selector network with its decision rule and losses: Gumbel
    samples ``h`` at temperature ``tau`` in training, argmax at test, ``L_DRS = L_acc +
    gamma L_flops`` (Eq. 2-4, times lambda_2) against the per-scale FLOPs ``T_i``.

    ``trains`` False (``DRS.LR_FACTOR`` 0) freezes it: eval mode, its most probable scale in
    training too, no losses.
    """

    @configurable
    def __init__(self, *, scales: Sequence[float], thumbnail_size: int, stem_channels: int,
                 stage_channels: Sequence[int], norm: str, tau: float = 5.0,
                 flops: Sequence[float] = (), flops_weight: float = 0.1,
                 loss_weight: float = 1.0, kl_direction: str = "mixture_teacher",
                 acc_mean: str = "step", estimator: str = "gumbel", flops_unit: str = "max",
                 acc_dtype: str = "float32", trains: bool = True):
        scales = _check_scales(scales)
        super().__init__(len(scales), thumbnail_size, stem_channels, stage_channels, norm)
        if flops and len(flops) != len(scales):
            raise ValueError(f"MODEL.DLD.DRS.FLOPS has {len(flops)} values for {len(scales)} "
                             "SCALES: give one per scale, or none to measure them")
        self.scales = scales
        self.tau = tau
        self.register_buffer("scale_flops", torch.tensor(flops, dtype=torch.float32),
                             persistent=False)
        self.flops_weight, self.loss_weight = flops_weight, loss_weight
        self.kl_direction = check_option("MODEL.DLD.DRS.KL_DIRECTION", kl_direction,
                                         KL_DIRECTIONS)
        self.acc_mean = check_option("MODEL.DLD.DRS.ACC_MEAN", acc_mean, ACC_MEANS)
        self.estimator = check_option("MODEL.DLD.DRS.ESTIMATOR", estimator, DRS_ESTIMATORS)
        self.flops_unit = check_option("MODEL.DLD.DRS.FLOPS_UNIT", flops_unit, FLOPS_UNITS)
        self.acc_dtype = ACC_DTYPES[check_option("MODEL.DLD.DRS.ACC_DTYPE", acc_dtype,
                                                 ACC_DTYPES)]
        self.trains = trains
        if not trains:
            self.requires_grad_(False)

    @classmethod
    def from_config(cls, cfg):
        dld, drs = cfg.MODEL.DLD, cfg.MODEL.DLD.DRS
        if drs.LR_FACTOR < 0:
            raise ValueError(f"MODEL.DLD.DRS.LR_FACTOR must be >= 0 (0 freezes the selector), "
                             f"got {drs.LR_FACTOR}")
        return {"scales": dld.SCALES, "thumbnail_size": drs.THUMBNAIL_SIZE,
                "stem_channels": drs.STEM_CHANNELS, "stage_channels": drs.STAGE_CHANNELS,
                "norm": drs.NORM, "tau": drs.TAU_INIT, "flops": drs.FLOPS,
                "flops_weight": drs.FLOPS_WEIGHT, "loss_weight": drs.LOSS_WEIGHT,
                "kl_direction": drs.KL_DIRECTION, "acc_mean": drs.ACC_MEAN,
                "estimator": drs.ESTIMATOR, "flops_unit": drs.FLOPS_UNIT,
                "acc_dtype": drs.ACC_DTYPE, "trains": drs.LR_FACTOR > 0}

    def train(self, mode: bool = True) -> GumbelResolutionSelector:
        return super().train(mode and self.trains)  # a frozen selector keeps its BN statistics

    def log_probs(self, images: ImageList) -> torch.Tensor:
        """``(B, k)`` log-probabilities of the scales, from the images' thumbnails."""
        return self(self.thumbnails(images.tensor, images.image_sizes))

    def choose(self, images: ImageList) -> List[float]:
        """The most probable scale of each image."""
        return [self.scales[i] for i in self.log_probs(images).argmax(dim=1).tolist()]

    def sample(self, images: ImageList) -> Tuple[torch.Tensor, torch.Tensor, List[float]]:
        """Training: the Gumbel sample ``h`` ``(B, k)``, ``log p`` ``(B, k)`` and the chosen
        scales."""
        log_p = self.log_probs(images)
        h = gumbel_softmax_sample(log_p, self.tau)
        return h, log_p, [self.scales[i] for i in h.argmax(dim=1).tolist()]

    def losses(self, h: torch.Tensor, log_p: torch.Tensor, student_probs: Optional[torch.Tensor],
               teacher_probs: Optional[torch.Tensor], targets: torch.Tensor,
               image_of_roi: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Eq. 4 (times lambda_2) of the sample ``h``, or (``ESTIMATOR "expectation"``) its
        expectation under ``log_p``: ``loss_acc`` from the student's per-step distributions
        at every scale ``(k, N, T, K)`` against the teacher's ``(N, T, K)`` on targets
        ``(N, T)`` (``None`` when the batch has no readable word), and ``loss_flops``."""
        self.require_scale_flops()
        decision, acc = (log_p.exp(), expected_acc_loss) if self.estimator == "expectation" \
            else (h, acc_loss)
        if student_probs is None:
            loss_acc = decision.sum() * 0.0
        else:
            loss_acc = acc(decision[image_of_roi], student_probs, teacher_probs, targets,
                           self.kl_direction, image_of_roi if self.acc_mean == "image" else None)
        loss_flops = flops_loss(decision, self.scale_flops, self.flops_unit) * self.flops_weight
        return {"loss_acc": loss_acc * self.loss_weight,
                "loss_flops": loss_flops * self.loss_weight}

    def set_temperature(self, tau: float) -> None:
        self.tau = tau

    def set_scale_flops(self, flops: Sequence[float]) -> None:
        """The average forward FLOPs ``T_i`` of each candidate scale."""
        if len(flops) != len(self.scales):
            raise ValueError(f"{len(flops)} FLOPs values for {len(self.scales)} scales")
        self.scale_flops = torch.as_tensor(flops, dtype=torch.float32,
                                           device=self.scale_flops.device)

    def flops_costs(self) -> torch.Tensor:
        """Eq. 4's ``gamma T_i`` of each candidate scale ``(k,)``, in ``FLOPS_UNIT``."""
        self.require_scale_flops()
        return self.flops_weight * flops_in_unit(self.scale_flops, self.flops_unit)

    def require_scale_flops(self) -> None:
        if self.scale_flops.numel() != len(self.scales):
            raise RuntimeError("the FLOPs per scale are not set: give MODEL.DLD.DRS.FLOPS or "
                               "train with TextSpotterTrainer, which measures them "
                               "(ScaleFlopsHook)")


def build_resolution_selector(cfg) -> nn.Module:
    """:class:`FixedResolution` if ``MODEL.DLD.FIXED_SCALE`` > 0, else ``MODEL.DLD.DRS.NAME``."""
    dld = cfg.MODEL.DLD
    if dld.FIXED_SCALE > 0:
        return FixedResolution(dld.FIXED_SCALE, dld.SCALES)
    return SELECTOR_REGISTRY.get(dld.DRS.NAME)(cfg)
