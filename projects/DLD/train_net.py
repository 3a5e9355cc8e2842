#!/usr/bin/env python
"""Train or evaluate a dld-spotter model, detectron2-style.

    python projects/DLD/train_net.py --config-file configs/synth/teacher_tiny.yaml
    python projects/DLD/train_net.py --config-file ... --eval-only MODEL.WEIGHTS out/model_final.pth
    python projects/DLD/train_net.py --config-file ... --num-gpus 8   # or --num-gpus 2 on CPU
"""
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer


def setup(args):
    cfg = load_config(args.config_file, args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="dld_spotter")
    return cfg


def main(args):
    torch.set_flush_denormal(True)  # tiny activations (e.g. fresh BN in eval) stay fast on CPU
    cfg = setup(args)
    if args.eval_only:
        model = TextSpotterTrainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(
            cfg.MODEL.WEIGHTS, resume=args.resume
        )
        return TextSpotterTrainer.test(cfg, model)
    trainer = TextSpotterTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    print("Command Line Args:", args)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
