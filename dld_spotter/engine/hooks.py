"""Trainer hooks of dld-spotter."""
from __future__ import annotations

import logging

from detectron2.engine import HookBase
from detectron2.utils import comm

logger = logging.getLogger(__name__)


class SaveOnInterruptHook(HookBase):
    """Saves ``model_interrupted.pth`` when training stops before ``max_iter`` (Ctrl-C, an
    exception), so that ``--resume`` continues from there instead of losing the work."""

    def __init__(self, checkpointer):
        self.checkpointer = checkpointer

    def after_train(self) -> None:
        trainer = self.trainer
        if trainer.iter >= trainer.max_iter or trainer.iter <= trainer.start_iter:
            return
        if comm.is_main_process():
            # Like detectron2's checkpoints, this one records ``trainer.iter``; resuming
            # continues after it (at most the one interrupted step is skipped).
            self.checkpointer.save("model_interrupted")
            logger.warning(
                "Training stopped at iteration %d of %d; saved %s/model_interrupted.pth. "
                "Run again with --resume to continue.",
                trainer.iter, trainer.max_iter, self.checkpointer.save_dir,
            )
