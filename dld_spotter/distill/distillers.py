"""Distillers: what a student learns from its teacher (§3.4, Table 3), one registered part each.

``MODEL.DLD.DISTILLERS`` names the parts (``DISTILLER_REGISTRY``); each reads its weights from
``MODEL.DLD.SKD`` and is left out when they are all 0. A distiller compares two
:class:`RecognitionView` s of the same ground-truth words, the student's (at its scale, with a
graph) and the teacher's (at ``S``, without), and returns weighted losses.
"""
from __future__ import annotations

from functools import cached_property
from typing import Dict, List, Sequence, Tuple

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.structures import Instances
from detectron2.utils.registry import Registry
from torch import nn

from ..charset import IGNORE
from .losses import (
    ROI_FEATURES,
    SEQ_LOSS_NORMS,
    SEQ_WORDS,
    affinity_loss,
    aligned_feature_loss,
    beam_targets,
    check_option,
    con_loss,
    read_correctly,
    roi_loss,
    seq_loss,
    step_kl,
    step_mse,
)

DISTILLER_REGISTRY = Registry("DISTILLER")
DISTILLER_REGISTRY.__doc__ = """Distillers of DLD (``MODEL.DLD.DISTILLERS``), built with
``(cfg, feature_shapes)``: the student's feature levels (``ShapeSpec`` by name)."""


class RecognitionView:
    """One spotter's recognition of given words, computed on first use: ``roi`` (``F_roi``,
    ``(N, C, Hr, Wr)``), ``con`` (``F_con``, ``(N, L, E)``), ``forced`` (teacher-forced logits
    ``(N, T, K)``, attention ``(N, T, L)``, glimpses ``(N, T, E)``), ``probs`` and
    :meth:`beams`. ``grad`` False (the teacher) computes everything without a graph."""

    def __init__(self, spotter: nn.Module, features: Dict[str, torch.Tensor],
                 rois: List[Instances], targets: torch.Tensor, grad: bool = True):
        self.spotter, self.features, self.rois, self.targets = spotter, features, rois, targets
        self.grad = grad

    def _run(self, fn, *args):
        with torch.set_grad_enabled(self.grad and torch.is_grad_enabled()):
            return fn(*args)

    @cached_property
    def roi(self) -> torch.Tensor:
        return self._run(self.spotter.recognition_features, self.features, self.rois)

    @cached_property
    def con(self) -> torch.Tensor:
        return self._run(self.spotter.text_recognizer.encode, self.roi)

    @cached_property
    def forced(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self._run(self.spotter.text_recognizer.teacher_forced, self.con, self.targets)

    @cached_property
    def probs(self) -> torch.Tensor:
        return self.forced[0].softmax(dim=-1)

    def beams(self, width: int) -> torch.Tensor:
        """All hypotheses ``(N, width, T)`` of a beam search, best first (not cached)."""
        return self._run(self.spotter.text_recognizer.beam_search, self.con, width)


class Distiller(nn.Module):
    """A distillation method: ``weights`` by loss name (0 = off) and :meth:`losses`."""

    def __init__(self, weights: Dict[str, float]):
        super().__init__()
        self.weights = {k: w for k, w in weights.items() if w > 0}

    def losses(self, student: RecognitionView, teacher: RecognitionView
               ) -> Dict[str, torch.Tensor]:
        """The weighted losses of :meth:`unweighted_losses`."""
        return {k: v * self.weights[k] for k, v in self.unweighted_losses(student,
                                                                          teacher).items()}

    def unweighted_losses(self, student: RecognitionView, teacher: RecognitionView
                          ) -> Dict[str, torch.Tensor]:
        raise NotImplementedError


@DISTILLER_REGISTRY.register()
class SKD(Distiller):
    """Sequential Knowledge Distillation (Eq. 7-10): ``loss_roi`` on ``F_roi``, ``loss_con`` on
    ``F_con`` and ``loss_seq`` on the teacher's top-K beams (of ``SEQ_WORDS``)."""

    @configurable
    def __init__(self, *, weights: Dict[str, float], roi_features: str = "pooled",
                 seq_loss_per: str = "sequence", seq_words: str = "all", beam_width: int = 3,
                 top_k: int = 1):
        super().__init__(weights)
        if not 1 <= top_k <= beam_width:
            raise ValueError(f"MODEL.DLD.SKD.TOP_K ({top_k}) must be in [1, BEAM_WIDTH "
                             f"({beam_width})]")
        self.roi_features = check_option("MODEL.DLD.SKD.ROI_FEATURES", roi_features,
                                         ROI_FEATURES)
        self.seq_loss_per = check_option("MODEL.DLD.SKD.SEQ_LOSS_PER", seq_loss_per,
                                         SEQ_LOSS_NORMS)
        self.seq_words = check_option("MODEL.DLD.SKD.SEQ_WORDS", seq_words, SEQ_WORDS)
        self.beam_width, self.top_k = beam_width, top_k

    @classmethod
    def from_config(cls, cfg, feature_shapes: Dict[str, ShapeSpec]):
        skd = cfg.MODEL.DLD.SKD
        return {"weights": {"loss_roi": skd.LOSS_WEIGHT * skd.ROI_WEIGHT,
                            "loss_con": skd.LOSS_WEIGHT * skd.CON_WEIGHT,
                            "loss_seq": skd.LOSS_WEIGHT * skd.SEQ_WEIGHT},
                "roi_features": skd.ROI_FEATURES, "seq_loss_per": skd.SEQ_LOSS_PER,
                "seq_words": skd.SEQ_WORDS, "beam_width": skd.BEAM_WIDTH, "top_k": skd.TOP_K}

    def teacher_beams(self, teacher: RecognitionView) -> torch.Tensor:
        """``(N, K, T)``: the teacher's top-K beams as targets; with ``SEQ_WORDS "read"`` the
        beams of words it misreads are all IGNORE (not scored)."""
        beams = beam_targets(teacher.beams(self.beam_width)[:, : self.top_k])
        if self.seq_words == "read":
            misread = ~read_correctly(beams[:, 0], teacher.targets)
            beams = beams.masked_fill(misread[:, None, None], IGNORE)
        return beams

    def unweighted_losses(self, student, teacher):
        losses = {}
        if "loss_roi" in self.weights:
            losses["loss_roi"] = roi_loss(student.roi, teacher.roi, self.roi_features)
        if "loss_con" in self.weights:
            losses["loss_con"] = con_loss(student.con, teacher.con)
        if "loss_seq" in self.weights:
            beams = self.teacher_beams(teacher)
            n, b, t = beams.shape
            logits = student.spotter.text_recognizer.sequence_logits(
                student.con.repeat_interleave(b, dim=0), beams.view(n * b, t))
            losses["loss_seq"] = seq_loss(logits.view(n, b, t, -1), beams, self.seq_loss_per)
        return losses


@DISTILLER_REGISTRY.register()
class DecoderKD(Distiller):
    """Bhunia et al.'s recognition distillation (Table 3), on the decoder teacher-forced on the
    ground truth: ``loss_logits`` (per-step KL), ``loss_hint`` (glimpses), ``loss_attention``
    and ``loss_affinity`` (relations between a word's glimpses)."""

    @configurable
    def __init__(self, *, weights: Dict[str, float]):
        super().__init__(weights)

    @classmethod
    def from_config(cls, cfg, feature_shapes: Dict[str, ShapeSpec]):
        skd = cfg.MODEL.DLD.SKD
        return {"weights": {"loss_logits": skd.LOSS_WEIGHT * skd.LOGITS_WEIGHT,
                            "loss_hint": skd.LOSS_WEIGHT * skd.HINT_WEIGHT,
                            "loss_attention": skd.LOSS_WEIGHT * skd.ATTENTION_WEIGHT,
                            "loss_affinity": skd.LOSS_WEIGHT * skd.AFFINITY_WEIGHT}}

    def unweighted_losses(self, student, teacher):
        (logits, attention, glimpses), targets = student.forced, student.targets
        t_logits, t_attention, t_glimpses = teacher.forced
        kd = {"loss_logits": lambda: step_kl(logits.log_softmax(dim=-1), teacher.probs, targets),
              "loss_hint": lambda: step_mse(glimpses, t_glimpses, targets),
              "loss_attention": lambda: step_mse(attention, t_attention, targets),
              "loss_affinity": lambda: affinity_loss(glimpses, t_glimpses, targets)}
        return {k: f() for k, f in kd.items() if k in self.weights}


@DISTILLER_REGISTRY.register()
class AlignedFeatureKD(Distiller):
    """Qi et al.'s detection distillation (Table 3), for a student at half the teacher's
    resolution: a 1x1 adapter per student FPN level maps it onto the teacher's level of the
    same size (the student's p_k against the teacher's p_(k+1)): ``loss_det_feature``."""

    @configurable
    def __init__(self, *, weights: Dict[str, float], pairs: Sequence[Tuple[str, str]],
                 channels: int):
        super().__init__(weights)
        self.pairs = list(pairs)
        self.adapters = nn.ModuleDict({s: nn.Conv2d(channels, channels, 1) for s, _ in pairs})

    @classmethod
    def from_config(cls, cfg, feature_shapes: Dict[str, ShapeSpec]):
        skd, scale = cfg.MODEL.DLD.SKD, cfg.MODEL.DLD.FIXED_SCALE
        weight = skd.LOSS_WEIGHT * skd.DET_FEATURE_WEIGHT
        if weight > 0 and scale != 0.5:
            raise ValueError(f"MODEL.DLD.SKD.DET_FEATURE_WEIGHT (Qi et al.'s aligned "
                             f"distillation) needs MODEL.DLD.FIXED_SCALE 0.5, got {scale}: a "
                             "student at half the teacher's resolution, whose levels align "
                             "with the next ones")
        levels = sorted(feature_shapes, key=lambda k: feature_shapes[k].stride)
        return {"weights": {"loss_det_feature": weight},
                "pairs": list(zip(levels, levels[1:])),
                "channels": feature_shapes[levels[0]].channels}

    def unweighted_losses(self, student, teacher):
        return {"loss_det_feature": aligned_feature_loss(
            [self.adapters[s](student.features[s]) for s, _ in self.pairs],
            [teacher.features[t] for _, t in self.pairs])}


# Where each distiller's weights are in MODEL.DLD.SKD, for the error of a weight whose
# distiller is not in MODEL.DLD.DISTILLERS.
WEIGHT_KEYS = {"SKD": ("ROI_WEIGHT", "CON_WEIGHT", "SEQ_WEIGHT"),
               "DecoderKD": ("LOGITS_WEIGHT", "HINT_WEIGHT", "ATTENTION_WEIGHT",
                             "AFFINITY_WEIGHT"),
               "AlignedFeatureKD": ("DET_FEATURE_WEIGHT",)}


def build_distillers(cfg, feature_shapes: Dict[str, ShapeSpec]) -> nn.ModuleDict:
    """The distillers of ``MODEL.DLD.DISTILLERS`` with a loss weight > 0, by name."""
    names, skd = list(cfg.MODEL.DLD.DISTILLERS), cfg.MODEL.DLD.SKD
    for name, keys in WEIGHT_KEYS.items():
        if name == "SKD" or name in names:
            continue
        on = [k for k in keys if skd.get(k) > 0]
        if on and skd.LOSS_WEIGHT > 0:
            raise ValueError(f"MODEL.DLD.SKD.{on[0]} > 0 is a loss of the {name} distiller: "
                             f"add '{name}' to MODEL.DLD.DISTILLERS (now {tuple(names)})")
    built = {}
    for name in names:
        distiller = DISTILLER_REGISTRY.get(name)(cfg, feature_shapes)
        if distiller.weights:
            built[name] = distiller
    return nn.ModuleDict(built)
