"""The losses of DLD as pure functions (Eq. 2–4 and 7–9 of the paper), and those of the
distillation baselines of its Table 3 (Bhunia et al.'s recognition KD, Qi et al.'s
detection-feature KD).

Shapes: ``N`` RoIs, ``T`` decoding steps, ``K`` classes, ``k`` candidate scales,
``B`` images; targets use ``IGNORE`` (-1) for steps that are not scored.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from ..charset import EOS, IGNORE

KL_DIRECTIONS = ("mixture_teacher", "teacher_mixture")
SEQ_LOSS_NORMS = ("sequence", "character")
ROI_FEATURES = ("pooled", "normalized")
SEQ_WORDS = ("all", "read")
ACC_MEANS = ("step", "image")
DRS_ESTIMATORS = ("gumbel", "expectation")
FLOPS_UNITS = ("max", "gflops")
EPS = 1e-8


def check_option(key: str, value: str, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else a ``ValueError`` naming the config ``key``."""
    if value not in choices:
        raise ValueError(f"{key} must be one of {tuple(choices)}, got {value!r}")
    return value


def roi_loss(student: torch.Tensor, teacher: torch.Tensor,
             features: str = "pooled") -> torch.Tensor:
    """Eq. 7: mean squared difference of RoI features ``(N, C, H, W)``.

    ``features="normalized"`` compares them as an instance-normalising recognizer reads them
    (each RoI's channels at zero mean and unit variance over its ``H × W`` cells), so that
    the loss ignores the per-word offsets and scales that the recognizer discards.
    """
    check_option("MODEL.DLD.SKD.ROI_FEATURES", features, ROI_FEATURES)
    if features == "normalized":
        student, teacher = F.instance_norm(student), F.instance_norm(teacher)
    return _mse_or_zero(student, teacher)


def con_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Eq. 8: mean squared difference of BiLSTM outputs ``(N, L, C)``."""
    return _mse_or_zero(student, teacher)


def _mse_or_zero(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    if student.shape != teacher.shape:
        raise ValueError(f"student features {tuple(student.shape)} and teacher features "
                         f"{tuple(teacher.shape)} differ: teacher and student need the same "
                         "REC_HEAD (RoI size, widths)")
    if student.numel() == 0:
        return student.sum() * 0.0
    return F.mse_loss(student, teacher)


def seq_loss(logits: torch.Tensor, sequences: torch.Tensor, per: str = "sequence") -> torch.Tensor:
    """Eq. 9: ``-log sum_k p(y_k | F_con_s)`` for the teacher's top-K sequences.

    Args:
        logits: ``(N, K_beam, T, K)`` student logits, teacher-forced on ``sequences``.
        sequences: ``(N, K_beam, T)`` the teacher's beams, best first, IGNORE after EOS
            (a RoI whose beams are all IGNORE is not scored).
        per: ``"sequence"`` (the paper): the mean over RoIs of the per-sequence negative
            log-probability; ``"character"``: the sum over RoIs divided by the scored steps
            of the best beams (with one beam, the per-character cross-entropy).
    """
    check_option("MODEL.DLD.SKD.SEQ_LOSS_PER", per, SEQ_LOSS_NORMS)
    valid = sequences != IGNORE
    if not bool(valid[:, 0].any()):
        return logits.sum() * 0.0
    step_lp = logits.log_softmax(dim=-1).gather(-1, sequences.clamp(min=0)[..., None])[..., 0]
    seq_lp = (step_lp * valid).sum(dim=-1)  # (N, K_beam)
    nll = -torch.logsumexp(seq_lp, dim=1)[valid[:, 0].any(dim=-1)]  # RoIs with a beam
    return nll.mean() if per == "sequence" else nll.sum() / valid[:, 0].sum()


def beam_targets(ids: torch.Tensor) -> torch.Tensor:
    """EOS-padded beam outputs ``(..., T)`` -> targets with IGNORE after the first EOS,
    trimmed to the longest sequence."""
    after_eos = (ids == EOS).long().cumsum(dim=-1) - (ids == EOS).long() > 0
    targets = ids.masked_fill(after_eos, IGNORE)
    used = (targets != IGNORE).flatten(0, -2).any(dim=0).nonzero()
    return targets[..., : int(used.max()) + 1] if used.numel() else targets[..., :1]


def read_correctly(best: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``(N,)`` whether each of the teacher's best beams ``(N, T1)`` is its ground truth
    ``(N, T2)`` (both IGNORE after EOS; lengths may differ)."""
    width = max(best.shape[-1], targets.shape[-1])
    return (F.pad(best, (0, width - best.shape[-1]), value=IGNORE)
            == F.pad(targets, (0, width - targets.shape[-1]), value=IGNORE)).all(dim=-1)


def step_kl(student_log_probs: torch.Tensor, teacher_probs: torch.Tensor,
            targets: torch.Tensor) -> torch.Tensor:
    """Per-step ``KL(teacher || student)`` of ``(N, T, K)`` distributions (the student's as
    log-probabilities), averaged over scored steps (``targets`` ``(N, T)`` not IGNORE): the
    logits distillation of Table 3."""
    return _scored_mean(_kl_per_step(student_log_probs, teacher_probs), targets)


def _kl_per_step(log_p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``KL(q || p)`` ``(N, T)`` of ``(N, T, K)`` distributions, ``p`` as log-probabilities."""
    return F.kl_div(log_p, q, reduction="none").sum(dim=-1)


def step_mse(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor
             ) -> torch.Tensor:
    """Mean squared difference of per-step decoder quantities ``(N, T, D)`` at scored steps:
    Bhunia et al.'s character-localised hint (the glimpses, ``D = E``: the attended encoder
    features of each character) and attention distillation (the attention maps, ``D = L``)."""
    return _scored_mean(((student - teacher) ** 2).mean(dim=-1), targets)


def affinity_loss(student: torch.Tensor, teacher: torch.Tensor, targets: torch.Tensor
                  ) -> torch.Tensor:
    """Bhunia et al.'s affinity distillation: mean squared difference of the ``(N, T, T)``
    cosine similarities between the glimpses ``(N, T, E)`` of each pair of scored steps of a
    word (the relations between its characters)."""
    valid = targets != IGNORE
    pairs = valid[:, :, None] & valid[:, None, :]
    if not bool(pairs.any()):
        return student.sum() * 0.0
    s, t = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    diff = (s @ s.transpose(1, 2) - t @ t.transpose(1, 2)) ** 2
    return diff[pairs].mean()


def aligned_feature_loss(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor]
                         ) -> torch.Tensor:
    """Qi et al.'s multi-scale aligned distillation, for a student at half the teacher's
    resolution: mean squared difference of each student level ``(B, C, H, W)`` and the
    teacher level of the same size (the next one: the student's p2 against the teacher's
    p3, ...), over their common extent, averaged over the pairs."""
    losses = []
    for s, t in zip(student, teacher):
        h, w = min(s.shape[2], t.shape[2]), min(s.shape[3], t.shape[3])
        losses.append(F.mse_loss(s[..., :h, :w], t[..., :h, :w]))
    return torch.stack(losses).mean()


def _scored_mean(per_step: torch.Tensor, targets: torch.Tensor,
                 groups: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean of ``(N, T)`` values over the steps whose target is not IGNORE (0 if none).

    ``groups`` ``(N,)`` (the image of each row): the mean of each group's scored steps
    first, then the mean over the groups that have any, so that each counts once."""
    valid = targets != IGNORE
    if not bool(valid.any()):
        return per_step.sum() * 0.0
    if groups is None:
        return per_step[valid].mean()
    ids = groups[:, None].expand_as(targets)[valid]
    num = max(int(groups.max()) + 1, 1)
    sums = per_step.new_zeros(num).index_add(0, ids, per_step[valid])
    counts = per_step.new_zeros(num).index_add(0, ids, torch.ones_like(ids, dtype=per_step.dtype))
    scored = counts > 0
    return (sums[scored] / counts[scored]).mean()


def acc_loss(h: torch.Tensor, student_probs: torch.Tensor, teacher_probs: torch.Tensor,
             targets: torch.Tensor, direction: str = "mixture_teacher",
             images: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Eq. 2: ``KL(sum_i h_i y_si, y)`` between the ``h``-weighted mixture of the students'
    per-step distributions and the teacher's, averaged over scored steps (with ``images``,
    per image first: see :func:`_scored_mean`).

    Args:
        h: ``(N, k)`` the scale decision of each RoI's image.
        student_probs: ``(k, N, T, K)`` student distributions at every candidate scale.
        teacher_probs: ``(N, T, K)``.
        targets: ``(N, T)`` the (shared) teacher-forcing targets; IGNORE steps do not count.
        direction: ``"mixture_teacher"`` = KL(mixture || teacher), the paper's order;
            ``"teacher_mixture"`` = KL(teacher || mixture), the reverse.
        images: ``(N,)`` the image index of each RoI, or None.
    """
    check_option("MODEL.DLD.DRS.KL_DIRECTION", direction, KL_DIRECTIONS)
    if h.shape[0] == 0:
        return h.sum() * 0.0
    mixture = torch.einsum("nk,kntc->ntc", h, student_probs)
    return _scored_mean(_kl_to_teacher(mixture, teacher_probs, direction), targets, images)


def expected_acc_loss(p: torch.Tensor, student_probs: torch.Tensor,
                      teacher_probs: torch.Tensor, targets: torch.Tensor,
                      direction: str = "mixture_teacher",
                      images: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The expectation of Eq. 2 over one-hot decisions drawn from ``p`` ``(N, k)`` (each RoI's
    image's selector probabilities): ``sum_i p_i KL(y_si, y)``, the value that Gumbel samples
    of ``h`` estimate, exactly. Other arguments as :func:`acc_loss`."""
    check_option("MODEL.DLD.DRS.KL_DIRECTION", direction, KL_DIRECTIONS)
    if p.shape[0] == 0:
        return p.sum() * 0.0
    kl = _kl_to_teacher(student_probs, teacher_probs, direction)  # (k, N, T)
    return _scored_mean(torch.einsum("nk,knt->nt", p, kl), targets, images)


def acc_loss_per_image(student_probs: torch.Tensor, teacher_probs: torch.Tensor,
                       targets: torch.Tensor, images: torch.Tensor, num_images: int,
                       direction: str = "mixture_teacher") -> torch.Tensor:
    """Eq. 2 of each one-hot decision, per image: ``(B, k)``, ``KL(y_si, y)`` averaged over the
    scored steps of image ``b``'s RoIs (``images`` ``(N,)`` their image index; 0 for an image
    with none). Other arguments as :func:`acc_loss`; with ``p`` ``(B, k)``, the mean over the
    images with scored steps of ``(p * this).sum(1)`` is :func:`expected_acc_loss` per image."""
    check_option("MODEL.DLD.DRS.KL_DIRECTION", direction, KL_DIRECTIONS)
    valid = (targets != IGNORE).to(student_probs.dtype)
    kl = _kl_to_teacher(student_probs, teacher_probs, direction)  # (k, N, T)
    sums = kl.new_zeros(len(kl), num_images).index_add(1, images, (kl * valid).sum(-1))
    counts = valid.new_zeros(num_images).index_add(0, images, valid.sum(-1))
    return (sums / counts.clamp(min=1)).T


def _kl_to_teacher(probs: torch.Tensor, teacher_probs: torch.Tensor, direction: str
                   ) -> torch.Tensor:
    """Per-step KL of student distributions ``(..., N, T, K)`` and the teacher's ``(N, T, K)``
    in ``direction``: ``(..., N, T)``."""
    log_probs = probs.clamp(min=EPS).log()
    if direction == "teacher_mixture":
        return _kl_per_step(log_probs, teacher_probs.expand_as(probs))
    return (probs * (log_probs - teacher_probs.clamp(min=EPS).log())).sum(dim=-1)


def flops_loss(h: torch.Tensor, flops: torch.Tensor, unit: str = "max") -> torch.Tensor:
    """Eq. 3: ``sum_i h_i T_i``, averaged over the ``B`` images of ``h`` ``(B, k)``, with the
    FLOPs ``T`` ``(k,)`` in units of the largest (``"max"``) or in GFLOPs (``"gflops"``)."""
    return (h * flops_in_unit(flops, unit)).sum(dim=1).mean()


def flops_in_unit(flops: torch.Tensor, unit: str = "max") -> torch.Tensor:
    """Eq. 3's ``T`` ``(k,)`` (FLOPs per candidate scale) in units of the largest (``"max"``)
    or in GFLOPs (``"gflops"``)."""
    check_option("MODEL.DLD.DRS.FLOPS_UNIT", unit, FLOPS_UNITS)
    return flops / (flops.max() if unit == "max" else 1e9)
