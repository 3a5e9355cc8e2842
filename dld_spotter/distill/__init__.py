"""Sequential Knowledge Distillation and the selector's losses (§3.3–3.4), and the teacher."""
from .losses import (
    KL_DIRECTIONS,
    SEQ_LOSS_NORMS,
    SEQ_WORDS,
    acc_loss,
    acc_loss_per_image,
    affinity_loss,
    aligned_feature_loss,
    beam_targets,
    con_loss,
    expected_acc_loss,
    flops_in_unit,
    flops_loss,
    read_correctly,
    roi_loss,
    seq_loss,
    step_kl,
    step_mse,
)
from .teacher import build_teacher

__all__ = ["KL_DIRECTIONS", "SEQ_LOSS_NORMS", "SEQ_WORDS", "acc_loss", "acc_loss_per_image",
           "affinity_loss", "aligned_feature_loss", "beam_targets", "build_teacher", "con_loss",
           "expected_acc_loss", "flops_in_unit", "flops_loss", "read_correctly", "roi_loss",
           "seq_loss", "step_kl", "step_mse"]
