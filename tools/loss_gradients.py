#!/usr/bin/env python
"""Which loss trains which part of a model: the gradient norm of each training loss on each
module group, averaged over a few training batches of a config (the model as it starts to
train: ``MODEL.WEIGHTS``, a DLD student with its teacher, selector start and FLOPs table).

    .venv/bin/python tools/loss_gradients.py --config-file configs/synth/dld_tiny.yaml \\
        --batches 4 MODEL.DLD.SKD.ROI_FEATURES normalized

Under AdamW (the paper's optimizer) each parameter's step is divided by the running scale of
its own gradient, so the size of the total loss does not matter, only each loss's share of a
module's gradient: a loss whose gradient on a module is far larger than the others' decides
that module's update alone, whatever weight scales it. This table shows the shares before a
run; the loss weights (``MODEL.DLD.SKD.*``, ``MODEL.DLD.DRS.*``) are what to change.
"""
from __future__ import annotations

import argparse
import itertools
from collections import defaultdict
from collections.abc import Iterable

import torch
from torch import nn

# Module groups: a parameter belongs to the first prefix its name starts with.
GROUPS = [
    ("backbone", "backbone."),
    ("RPN", "proposal_generator."),
    ("box + mask heads", "roi_heads.box_"),
    ("box + mask heads", "roi_heads.mask_"),
    ("recognizer", "roi_heads.recognizer."),
    ("selector", "selector."),
]


def module_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """The trainable parameters of ``model`` by group of :data:`GROUPS` (groups it lacks are
    left out; parameters of no group go to ``"other"``)."""
    groups: dict[str, list[nn.Parameter]] = defaultdict(list)
    for name, p in model.named_parameters():
        if p.requires_grad:
            name = name.removeprefix("spotter.")  # a DLD student's spotter
            group = next((g for g, prefix in GROUPS if name.startswith(prefix)), "other")
            groups[group].append(p)
    return dict(groups)


def gradient_norms(model: nn.Module, batches: Iterable[list[dict]]
                   ) -> dict[str, dict[str, float]]:
    """``{loss: {group: mean ||d loss / d group||_2, "value": mean loss}}`` over ``batches``
    (lists of dataset dicts), the model in training mode; a group that a loss does not reach
    gets 0."""
    from detectron2.utils.events import EventStorage

    groups = module_groups(model)
    params = [p for group in groups.values() for p in group]
    owner = [name for name, group in groups.items() for _ in group]
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    count = 0
    model.train()
    with EventStorage(0):
        for batch in batches:
            losses = model(batch)
            for name, loss in losses.items():
                sums[name]["value"] += float(loss.detach())
                grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
                squares: dict[str, float] = dict.fromkeys(groups, 0.0)
                for group, g in zip(owner, grads):
                    if g is not None:
                        squares[group] += float(g.double().pow(2).sum())
                for group, square in squares.items():
                    sums[name][group] += square ** 0.5
            count += 1
    if not count:
        raise ValueError("gradient_norms: no batch")
    return {loss: {k: v / count for k, v in row.items()} for loss, row in sums.items()}


def table(norms: dict[str, dict[str, float]]) -> str:
    """A Markdown table: a row per loss (its mean value, then its gradient norm per group)."""
    groups = list(dict.fromkeys(g for row in norms.values() for g in row if g != "value"))
    lines = ["| loss | value | " + " | ".join(groups) + " |", "|---" * (len(groups) + 2) + "|"]
    for loss, row in norms.items():
        cells = [f"{row.get(g, 0.0):.3g}" for g in groups]
        lines.append(f"| {loss} | {row['value']:.3g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--batches", type=int, default=4, help="training batches averaged")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config options KEY VALUE ...")
    a = parser.parse_args(argv)

    from detectron2.utils.env import seed_all_rng

    from dld_spotter.config import load_config, resolve_device
    from dld_spotter.engine import TextSpotterTrainer
    from dld_spotter.engine.trainer import build_training_model

    cfg = resolve_device(load_config(a.config_file, a.opts), a.opts)
    seed_all_rng(cfg.SEED if cfg.SEED >= 0 else 0)
    model = build_training_model(cfg)
    batches = itertools.islice(iter(TextSpotterTrainer.build_train_loader(cfg)), a.batches)
    text = (f"{a.config_file} {' '.join(a.opts)}: gradient norm of each loss on each module "
            f"group, mean over {a.batches} training batches of {cfg.SOLVER.IMS_PER_BATCH} "
            f"images\n\n" + table(gradient_norms(model, batches)))
    print(text)
    return text


if __name__ == "__main__":
    main()
