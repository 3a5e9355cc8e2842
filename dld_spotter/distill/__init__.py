"""Sequential Knowledge Distillation and the selector's losses (§3.3–3.4), and the teacher."""
from .losses import acc_loss, beam_targets, con_loss, flops_loss, roi_loss, seq_loss, step_kl
from .teacher import build_teacher

__all__ = ["acc_loss", "beam_targets", "build_teacher", "con_loss", "flops_loss", "roi_loss",
           "seq_loss", "step_kl"]
