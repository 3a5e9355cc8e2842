#!/usr/bin/env python
"""Train or evaluate a dld-spotter model, detectron2-style.

    python projects/DLD/train_net.py --config-file configs/synth/teacher_tiny.yaml
    python projects/DLD/train_net.py --config-file ... --eval-only MODEL.WEIGHTS out/model_final.pth
    python projects/DLD/train_net.py --config-file ... --num-gpus 8   # or --num-gpus 2 on CPU

Ctrl-C or SIGTERM (``timeout``, ``kill``, SLURM, ``docker stop``) saves
``OUTPUT_DIR/model_interrupted.pth``; ``--resume`` continues from it. One training run at a time
writes an ``OUTPUT_DIR`` (``train.lock``). Weights that do not fit the model are an error
(``--allow-partial`` loads what fits).
"""
import contextlib

import torch
import torch.distributed as dist
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from dld_spotter.checkpoint import TextCheckpointer, load_strict
from dld_spotter.config import load_config, resolve_device
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.engine.signals import sigterm_to_children
from dld_spotter.files import lock_output_dir


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    if not args.eval_only and comm.is_main_process():
        lock_output_dir(cfg.OUTPUT_DIR)  # before default_setup writes config.yaml there
    default_setup(cfg, args)  # config.yaml keeps the configured device, whatever the machine
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="dld_spotter")
    return resolve_device(cfg, args.opts)


def main(args):
    result = run(args)
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
    with sigterm_to_children() if several else contextlib.nullcontext():
        launch(
            main,
            args.num_gpus,
            num_machines=args.num_machines,
            machine_rank=args.machine_rank,
            dist_url=args.dist_url,
            args=(args,),
        )
