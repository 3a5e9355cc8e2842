#!/usr/bin/env python
"""Train or evaluate a dld-spotter model, detectron2-style.

    python projects/DLD/train_net.py --config-file configs/synth/teacher_tiny.yaml
    python projects/DLD/train_net.py --config-file ... --eval-only MODEL.WEIGHTS out/model_final.pth
    python projects/DLD/train_net.py --config-file ... --num-gpus 8   # or --num-gpus 2 on CPU

Ctrl-C or SIGTERM (``timeout``, ``kill``, SLURM, ``docker stop``) saves
``OUTPUT_DIR/model_interrupted.pth``; ``--resume`` continues from it; the exit status is 143
(SIGTERM) or 130 (Ctrl-C), with one or two processes. A checkpoint that cannot be saved (disk
full) or whose saving is interrupted is one line naming the file; nothing is half-written, and
the exit status is non-zero. One training run at a time writes an ``OUTPUT_DIR``
(``train.lock``). Weights that do not fit the model are an error (``--allow-partial`` loads what
fits).
"""
import contextlib
import logging
import sys

import torch
import torch.distributed as dist
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from dld_spotter.checkpoint import CheckpointNotSaved, TextCheckpointer, load_strict
from dld_spotter.config import load_config, resolve_device
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.engine.signals import exit_as_ranks, sigterm_to_children
from dld_spotter.files import lock_output_dir

logger = logging.getLogger("dld_spotter.train_net")


class _NoTracebackForUnsavedCheckpoints(logging.Filter):
    """Drops detectron2's "Exception during training:" traceback of a checkpoint that could not
    be saved: :func:`main` says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, CheckpointNotSaved)


def _unsaved(error: CheckpointNotSaved) -> str:
    """One line: the first checkpoint that could not be saved, and any later one (the
    ``model_interrupted.pth`` that the failure's own stop tried)."""
    seen, failures = [], []
    while error is not None and not any(error is e for e in seen):
        seen.append(error)
        if isinstance(error, CheckpointNotSaved):
            failures.append(error)
        error = error.__context__
    first, *later = failures[::-1]
    also = "".join(f"; {e.filename} could not be saved either" for e in later)
    return f"{first}{also}"


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    if not args.eval_only and comm.is_main_process():
        lock_output_dir(cfg.OUTPUT_DIR)  # before default_setup writes config.yaml there
    default_setup(cfg, args)  # config.yaml keeps the configured device, whatever the machine
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="dld_spotter")
    return resolve_device(cfg, args.opts)


def main(args):
    logging.getLogger("detectron2.engine.train_loop").addFilter(_NoTracebackForUnsavedCheckpoints())
    try:
        result = run(args)
    except CheckpointNotSaved as e:
        logger.error(_unsaved(e))
        raise SystemExit(1) from None
    if dist.is_initialized():  # a rank of launch: without this, gloo's threads may abort the exit
        comm.synchronize()
        dist.destroy_process_group()
    return result


def run(args):
    torch.set_flush_denormal(True)  # tiny activations (e.g. fresh BN in eval) stay fast on CPU
    cfg = setup(args)
    if args.eval_only:
        model = TextSpotterTrainer.build_model(cfg)
        checkpointer = TextCheckpointer(model, save_dir=cfg.OUTPUT_DIR)
        resuming = args.resume and checkpointer.has_checkpoint()
        load_strict(model, checkpointer.get_checkpoint_file() if resuming else cfg.MODEL.WEIGHTS,
                    "--eval-only needs the checkpoint of this config",
                    allow_partial=args.allow_partial)
        return TextSpotterTrainer.test(cfg, model)
    trainer = TextSpotterTrainer(cfg)
    trainer.resume_or_load(resume=args.resume, allow_partial=args.allow_partial)
    return trainer.train()


if __name__ == "__main__":
    parser = default_argument_parser()
    parser.add_argument("--allow-partial", action="store_true",
                        help="load weights that do not fit the model (another architecture): "
                        "what fits is loaded, the rest keeps its initialisation")
    args = parser.parse_args()
    print("Command Line Args:", args)
    several = args.num_gpus * args.num_machines > 1  # ranks in child processes
    try:
        with sigterm_to_children() if several else contextlib.nullcontext(), \
                exit_as_ranks() if several else contextlib.nullcontext():
            launch(
                main,
                args.num_gpus,
                num_machines=args.num_machines,
                machine_rank=args.machine_rank,
                dist_url=args.dist_url,
                args=(args,),
            )
    except KeyboardInterrupt:
        print("Ctrl-C: training stopped (see above for model_interrupted.pth; --resume "
              "continues)", file=sys.stderr)
        sys.exit(130)
