"""Pre-train a DLD config's Dynamic Resolution Selector on per-image scale labels.

The selector of §3.3 learns from ``L_DRS`` alone; on this CPU the main job's 150 iterations
show it 600 images, and it then picks one scale for every image
(docs/benchmarks/selector_pretraining.md). This tool gives it a start that already chooses per
image. Each training image is labelled with a candidate scale, and the selector learns those
labels by cross-entropy on the thumbnails the student sees; ``MODEL.DLD.DRS.WEIGHTS`` then
loads the file into the student's selector before DLD trains it further with ``L_DRS``.

Labels (``--labels``):
- ``rule``: the smallest scale at which the image's smallest word keeps ``--min-height`` input
  pixels (the rule of ``tools/scale_headroom.py``, from the ground-truth polygons; no model
  runs), on the test view of the image.
- ``drs``: the argmin of Eq. 4 over one-hot decisions, ``L_acc(s_i) + gamma T_i``
  (``DLDSpotter.scale_costs``), for the config's student as a training run starts it, on a
  training view of the image: the decision ``L_DRS`` asks of the selector, with the config's
  gamma (``MODEL.DLD.DRS.FLOPS_WEIGHT``), FLOPs unit and KL direction. Needs the teacher.

    python tools/train_selector.py --config-file configs/synth/dld_tiny.yaml \\
        --labels drs --steps 2000 --out output/selector_tiny_drs0.1.pth \\
        MODEL.DLD.DRS.THUMBNAIL_SIZE 224 MODEL.DLD.DRS.NORM BN

Prints progress with an ETA and, every quarter, the agreement with the labels on
``DATASETS.TEST[0]``; the file (fp16, with its provenance: command, commit, labels) is written
atomically.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import List, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.utils.logger import setup_logger

from dld_spotter import model_zoo
from dld_spotter.config import load_config
from dld_spotter.data.mapper import TextDatasetMapper
from dld_spotter.data.stream import smallest_text_height
from dld_spotter.engine.trainer import build_training_model
from dld_spotter.modeling.drs import smallest_legible_scale

logger = logging.getLogger("dld_spotter.train_selector")


LABELS = ("rule", "drs")


def labelled_thumbnails(cfg, model, dataset: str, labels: str, min_height: float
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Thumbnails ``(N, 3, t, t)`` of ``dataset`` (as the student's selector sees them) and
    the scale index ``(N,)`` that ``labels`` gives each."""
    mapper, scales = TextDatasetMapper(cfg, is_train=labels == "drs"), list(model.scales)
    thumbs, chosen = [], []
    dicts = DatasetCatalog.get(dataset)
    start = time.time()
    for n, d in enumerate(dicts):
        x = mapper(d)
        with torch.no_grad():
            images = model.preprocess_image([x])
            thumbs.append(model.selector.thumbnails(images.tensor, images.image_sizes).cpu())
        if labels == "drs":
            chosen.append(int(model.scale_costs([x]).argmin(dim=1)))
        else:
            smallest = smallest_text_height(d["annotations"]) * x["image"].shape[1] / d["height"]
            chosen.append(scales.index(smallest_legible_scale(smallest, scales, min_height)))
        if (n + 1) % 250 == 0:
            elapsed = time.time() - start
            logger.info("%s: %d/%d images labelled (%.0f s, ETA %.0f s)", dataset, n + 1,
                        len(dicts), elapsed, elapsed / (n + 1) * (len(dicts) - n - 1))
    return torch.cat(thumbs), torch.tensor(chosen)


def agreement(selector: torch.nn.Module, thumbs: torch.Tensor, labels: torch.Tensor
              ) -> Tuple[float, float, List[int]]:
    """Fraction of images where the selector's argmax is the labelled scale, within one
    scale of it, and the count of each chosen scale."""
    selector.eval()
    with torch.no_grad():
        pred = torch.cat([selector(t).argmax(dim=1) for t in thumbs.split(64)])
    selector.train()
    return ((pred == labels).float().mean().item(),
            ((pred - labels).abs() <= 1).float().mean().item(),
            torch.bincount(pred, minlength=selector.fc.out_features).tolist())


def train(selector: torch.nn.Module, thumbs: torch.Tensor, labels: torch.Tensor, steps: int,
          batch: int, lr: float, held_out: Tuple[torch.Tensor, torch.Tensor]) -> None:
    """AdamW with a one-cycle schedule; each batch horizontally flipped with probability
    one half."""
    optimizer = torch.optim.AdamW(selector.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    generator = torch.Generator().manual_seed(0)
    selector.train()
    start = time.time()
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(thumbs), (batch,), generator=generator)
        x = thumbs[idx].to(selector.fc.weight.device)
        if torch.rand((), generator=generator) < 0.5:
            x = x.flip(3)
        loss = F.nll_loss(selector(x), labels[idx].to(x.device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % max(steps // 4, 1) == 0 or step == steps:
            eta = (time.time() - start) / step * (steps - step)
            exact, near, counts = agreement(selector, *held_out)
            logger.info("step %d/%d  loss %.3f  held-out: labelled scale %.0f %%, within one "
                        "%.0f %%, chosen per scale %s  (ETA %.0f s)", step, steps, loss.item(),
                        100 * exact, 100 * near, counts, eta)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, help="a DLD config with a selector")
    parser.add_argument("--out", required=True, help="the selector's weights (.pth)")
    parser.add_argument("--labels", choices=LABELS, default="rule",
                        help="rule: the text-size rule; drs: Eq. 4's argmin per image")
    parser.add_argument("--min-height", type=float, default=12.0,
                        help="rule: input pixels the smallest word keeps at the chosen scale")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    args = parser.parse_args(argv)
    setup_logger(name="dld_spotter")
    start = time.time()
    cfg = load_config(args.config_file, args.opts)
    torch.manual_seed(0)
    # "drs" labels need the model as DLD training starts it: weights, teacher, FLOPs per scale.
    model = build_training_model(cfg) if args.labels == "drs" else build_model(cfg)
    if getattr(model, "selector", None) is None:
        raise ValueError(f"{args.config_file}: no selector to train (MODEL.META_ARCHITECTURE "
                         "DLDSpotter with MODEL.DLD.FIXED_SCALE 0)")
    if not cfg.DATASETS.TEST:
        raise ValueError(f"{args.config_file}: DATASETS.TEST is empty; give a held-out set")
    train_set = [labelled_thumbnails(cfg, model, name, args.labels, args.min_height)
                 for name in cfg.DATASETS.TRAIN]
    thumbs, labels = (torch.cat(t) for t in zip(*train_set))
    logger.info("%d training images; %s labels per scale: %s", len(labels), args.labels,
                dict(zip(model.scales, torch.bincount(labels, minlength=len(model.scales))
                         .tolist())))
    held_out = labelled_thumbnails(cfg, model, cfg.DATASETS.TEST[0], args.labels,
                                   args.min_height)
    train(model.selector, thumbs, labels, args.steps, args.batch, args.lr, held_out)
    labels_made = {"min_height": args.min_height} if args.labels == "rule" else {
        "gamma": cfg.MODEL.DLD.DRS.FLOPS_WEIGHT, "flops_unit": cfg.MODEL.DLD.DRS.FLOPS_UNIT}
    command = list(sys.argv[1:] if argv is None else argv)
    model_zoo.save_weights(model.selector, args.out, {
        "command": " ".join(["python", "tools/train_selector.py", *command]),
        "commit": model_zoo.source_commit(), "labels": args.labels, **labels_made,
        "steps": args.steps, "wall_time_s": round(time.time() - start)})
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
