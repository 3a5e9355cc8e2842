"""The losses of DLD as pure functions (Eq. 2–4 and 7–9 of the paper).

Shapes: ``N`` RoIs, ``T`` decoding steps, ``K`` classes, ``k`` candidate scales,
``B`` images; targets use ``IGNORE`` (-1) for steps that are not scored.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..charset import EOS, IGNORE


def roi_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Eq. 7: mean squared difference of RoI features ``(N, C, H, W)``."""
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


def seq_loss(logits: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
    """Eq. 9: ``-log sum_k p(y_k | F_con_s)`` for the teacher's top-K sequences.

    Args:
        logits: ``(N, K_beam, T, K)`` student logits, teacher-forced on ``sequences``.
        sequences: ``(N, K_beam, T)`` the teacher's beams, best first, IGNORE after EOS.

    Returns the sum over RoIs divided by the number of scored steps of the best beams, so
    that with one beam it is exactly the per-character cross-entropy on the teacher's output.
    """
    valid = sequences != IGNORE
    if not bool(valid[:, 0].any()):
        return logits.sum() * 0.0
    step_lp = logits.log_softmax(dim=-1).gather(-1, sequences.clamp(min=0)[..., None])[..., 0]
    seq_lp = (step_lp * valid).sum(dim=-1)  # (N, K_beam)
    return -torch.logsumexp(seq_lp, dim=1).sum() / valid[:, 0].sum()


def beam_targets(ids: torch.Tensor) -> torch.Tensor:
    """EOS-padded beam outputs ``(..., T)`` -> targets with IGNORE after the first EOS,
    trimmed to the longest sequence."""
    after_eos = (ids == EOS).long().cumsum(dim=-1) - (ids == EOS).long() > 0
    targets = ids.masked_fill(after_eos, IGNORE)
    used = (targets != IGNORE).flatten(0, -2).any(dim=0).nonzero()
    return targets[..., : int(used.max()) + 1] if used.numel() else targets[..., :1]


def step_kl(student_log_probs: torch.Tensor, teacher_probs: torch.Tensor,
            targets: torch.Tensor) -> torch.Tensor:
    """Per-step ``KL(teacher || student)`` ``(N, T, K)``, averaged over scored steps
    (``targets`` ``(N, T)`` not IGNORE)."""
    valid = targets != IGNORE
    kl = F.kl_div(student_log_probs, teacher_probs, reduction="none").sum(dim=-1)
    if not bool(valid.any()):
        return kl.sum() * 0.0
    return kl[valid].mean()


def acc_loss(h: torch.Tensor, student_probs: torch.Tensor, teacher_probs: torch.Tensor,
             targets: torch.Tensor) -> torch.Tensor:
    """Eq. 2: KL between the teacher's per-step distributions and the ``h``-weighted mixture
    of the students'.

    Args:
        h: ``(N, k)`` the scale decision of each RoI's image.
        student_probs: ``(k, N, T, K)`` student distributions at every candidate scale.
        teacher_probs: ``(N, T, K)``.
        targets: ``(N, T)`` the (shared) teacher-forcing targets; IGNORE steps do not count.
    """
    if h.shape[0] == 0:
        return h.sum() * 0.0
    mixture = torch.einsum("nk,kntc->ntc", h, student_probs)
    return step_kl(mixture.clamp(min=1e-8).log(), teacher_probs, targets)


def flops_loss(h: torch.Tensor, flops: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``sum_i h_i T_i / max T``, averaged over the ``B`` images of ``h`` ``(B, k)``."""
    return (h * (flops / flops.max())).sum(dim=1).mean()
