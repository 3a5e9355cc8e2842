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
- ``drs``: Eq. 4 of each one-hot decision, ``L_acc(s_i) + gamma T_i``
  (``DLDSpotter.scale_costs``), for the config's student as a training run starts it, on a
  training view of the image, with the config's gamma (``MODEL.DLD.DRS.FLOPS_WEIGHT``), FLOPs
  unit and KL direction. Needs the teacher. ``--costs FILE`` keeps the ``L_acc`` tables
  (gamma-free) so that other gammas and objectives reuse them.

Objectives (``--objective``):
- ``label``: cross-entropy on the labels (``drs``: each image's argmin).
- ``expected`` (``drs``): Eq. 4's expectation under the selector, ``sum_i p_i cost_i`` per
  image: what ``L_DRS`` trains it on (``ESTIMATOR expectation``, ``ACC_MEAN image``) with the
  student held as it starts (docs/benchmarks/selector_pretraining.md §5).

    python tools/train_selector.py --config-file configs/synth/dld_tiny.yaml \\
        --labels drs --steps 2000 --out output/selector_tiny_drs0.1.pth \\
        MODEL.DLD.DRS.THUMBNAIL_SIZE 224 MODEL.DLD.DRS.NORM BN

Prints progress with an ETA and, every quarter, the agreement with the labels on
``DATASETS.TEST[0]``; with ``drs``, a table of Eq. 4 on its images for this selector, the
per-image argmin and every image at one scale. The file (fp16, with its provenance: command,
commit, labels) is written atomically.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Dict, Iterator, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model
from detectron2.utils.logger import setup_logger

from dld_spotter import model_zoo
from dld_spotter.config import load_config
from dld_spotter.data.mapper import TextDatasetMapper
from dld_spotter.data.stream import smallest_text_height
from dld_spotter.engine.trainer import build_training_model
from dld_spotter.files import atomic_write
from dld_spotter.modeling.drs import smallest_legible_scale

logger = logging.getLogger("dld_spotter.train_selector")


LABELS = ("rule", "drs")
OBJECTIVES = ("label", "expected")


def _views(cfg, model, dataset: str, is_train: bool) -> Iterator[Tuple[dict, dict, torch.Tensor]]:
    """Each image of ``dataset``: its dict, its mapped view and the view's thumbnail
    ``(1, 3, t, t)`` as the student's selector sees it; logs progress with an ETA."""
    mapper = TextDatasetMapper(cfg, is_train=is_train)
    dicts = DatasetCatalog.get(dataset)
    start = time.time()
    for n, d in enumerate(dicts):
        x = mapper(d)
        with torch.no_grad():
            images = model.preprocess_image([x])
            yield d, x, model.selector.thumbnails(images.tensor, images.image_sizes).cpu()
        if (n + 1) % 250 == 0:
            elapsed = time.time() - start
            logger.info("%s: %d/%d images labelled (%.0f s, ETA %.0f s)", dataset, n + 1,
                        len(dicts), elapsed, elapsed / (n + 1) * (len(dicts) - n - 1))


def rule_labels(cfg, model, dataset: str, min_height: float
                ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Thumbnails ``(N, 3, t, t)`` of ``dataset``'s test views and the text-size rule's
    scale index ``(N,)`` for each."""
    scales, thumbs, chosen = list(model.scales), [], []
    for d, x, thumb in _views(cfg, model, dataset, is_train=False):
        smallest = smallest_text_height(d["annotations"]) * x["image"].shape[1] / d["height"]
        chosen.append(scales.index(smallest_legible_scale(smallest, scales, min_height)))
        thumbs.append(thumb)
    return torch.cat(thumbs), torch.tensor(chosen)


def acc_costs(cfg, model, dataset: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Thumbnails ``(N, 3, t, t)`` of one training view of each image of ``dataset`` and
    ``L_acc`` of each one-hot decision on it ``(N, k)`` (``DLDSpotter.acc_costs``)."""
    thumbs, costs = [], []
    for _, x, thumb in _views(cfg, model, dataset, is_train=True):
        costs.append(model.acc_costs([x]).cpu())
        thumbs.append(thumb)
    return torch.cat(thumbs), torch.cat(costs)


def cached_acc_costs(cfg, model, datasets: Sequence[str], path: str
                     ) -> Dict[str, Tuple[torch.Tensor, torch.Tensor]]:
    """:func:`acc_costs` of each data set, read from ``path`` when it holds them for this
    student, teacher and selector input, else computed and written there (atomically)."""
    key = {"datasets": list(datasets), "scales": list(model.scales),
           "weights": cfg.MODEL.WEIGHTS, "teacher": cfg.MODEL.DLD.TEACHER.WEIGHTS,
           "kl_direction": model.selector.kl_direction,
           "thumbnail_size": cfg.MODEL.DLD.DRS.THUMBNAIL_SIZE}
    if path and os.path.exists(path):
        cached = torch.load(path)
        if cached["key"] != key:
            raise ValueError(f"{path} holds the costs of {cached['key']}, not of this run "
                             f"({key}): delete it or give another --costs")
        logger.info("read the L_acc tables from %s", path)
        return cached["tables"]
    tables = {name: acc_costs(cfg, model, name) for name in datasets}
    tables = {name: (thumbs.half(), costs) for name, (thumbs, costs) in tables.items()}
    if path:
        with atomic_write(path, "wb") as f:
            torch.save({"key": key, "tables": tables}, f)
    return tables


def agreement(selector: torch.nn.Module, thumbs: torch.Tensor, labels: torch.Tensor
              ) -> Tuple[float, float, List[int]]:
    """Fraction of images where the selector's argmax is the labelled scale, within one
    scale of it, and the count of each chosen scale."""
    pred = choices(selector, thumbs)
    return ((pred == labels).float().mean().item(),
            ((pred - labels).abs() <= 1).float().mean().item(),
            torch.bincount(pred, minlength=selector.fc.out_features).tolist())


def choices(selector: torch.nn.Module, thumbs: torch.Tensor) -> torch.Tensor:
    """The selector's most probable scale index ``(N,)`` for each thumbnail, in eval mode."""
    selector.eval()
    device = selector.fc.weight.device
    with torch.no_grad():
        pred = torch.cat([selector(t.to(device).float()).argmax(dim=1).cpu()
                          for t in thumbs.split(64)])
    selector.train()
    return pred


def train(selector: torch.nn.Module, thumbs: torch.Tensor, targets: torch.Tensor, steps: int,
          batch: int, lr: float, held_out: Tuple[torch.Tensor, torch.Tensor]) -> None:
    """AdamW with a one-cycle schedule; each batch horizontally flipped with probability
    one half. ``targets``: scale indices ``(N,)`` (cross-entropy) or Eq. 4's costs of each
    one-hot decision ``(N, k)`` (their expectation under the selector, ``sum_i p_i cost_i``).
    ``held_out``: thumbnails and their scale labels."""
    optimizer = torch.optim.AdamW(selector.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps)
    generator = torch.Generator().manual_seed(0)
    device = selector.fc.weight.device
    selector.train()
    start = time.time()
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(thumbs), (batch,), generator=generator)
        x = thumbs[idx].to(device).float()
        if torch.rand((), generator=generator) < 0.5:
            x = x.flip(3)
        log_p, y = selector(x), targets[idx].to(device)
        loss = F.nll_loss(log_p, y) if y.dim() == 1 else (log_p.exp() * y).sum(1).mean()
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


def decision_table(decisions: Dict[str, torch.Tensor], costs: torch.Tensor,
                   flops: torch.Tensor) -> str:
    """A markdown table of each named decision ``(N,)`` (scale indices) on held-out images:
    mean GFLOPs, mean Eq. 4 cost (``costs`` ``(N, k)``) and images per scale."""
    rows = ["| decision | GFLOPs | Eq. 4 cost | images per scale |", "|---|---:|---:|---|"]
    for name, chosen in decisions.items():
        counts = torch.bincount(chosen, minlength=len(flops)).tolist()
        rows.append(f"| {name} | {flops[chosen].mean() / 1e9:.2f} | "
                    f"{costs.gather(1, chosen[:, None]).mean():.4f} | "
                    f"{' / '.join(map(str, counts))} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", required=True, help="a DLD config with a selector")
    parser.add_argument("--out", required=True, help="the selector's weights (.pth)")
    parser.add_argument("--labels", choices=LABELS, default="rule",
                        help="rule: the text-size rule; drs: Eq. 4's argmin per image")
    parser.add_argument("--objective", choices=OBJECTIVES, default="label",
                        help="label: cross-entropy on the labels; expected (drs): Eq. 4's "
                             "expectation under the selector")
    parser.add_argument("--costs", default="",
                        help="drs: file that caches the L_acc tables (read when it holds them)")
    parser.add_argument("--min-height", type=float, default=12.0,
                        help="rule: input pixels the smallest word keeps at the chosen scale")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides")
    args = parser.parse_args(argv)
    if args.objective == "expected" and args.labels != "drs":
        parser.error("--objective expected needs --labels drs (Eq. 4's costs)")
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
    test = cfg.DATASETS.TEST[0]
    if args.labels == "rule":
        thumbs, labels = (torch.cat(t) for t in zip(*[
            rule_labels(cfg, model, name, args.min_height) for name in cfg.DATASETS.TRAIN]))
        held_out, targets = rule_labels(cfg, model, test, args.min_height), labels
    else:
        tables = cached_acc_costs(cfg, model, [*cfg.DATASETS.TRAIN, test], args.costs)
        flops_cost = model.selector.flops_costs().cpu()
        thumbs, costs = (torch.cat(t) for t in zip(*[tables[n] for n in cfg.DATASETS.TRAIN]))
        costs, test_costs = costs + flops_cost, tables[test][1] + flops_cost
        labels = costs.argmin(dim=1)
        held_out = (tables[test][0], test_costs.argmin(dim=1))
        targets = labels if args.objective == "label" else costs
    logger.info("%d training images; %s labels per scale: %s", len(labels), args.labels,
                dict(zip(model.scales, torch.bincount(labels, minlength=len(model.scales))
                         .tolist())))
    train(model.selector, thumbs, targets, args.steps, args.batch, args.lr, held_out)
    if args.labels == "drs":
        n = len(test_costs)
        decisions = {"this selector": choices(model.selector, held_out[0]),
                     "argmin per image": held_out[1],
                     **{f"every image at {s}": torch.full((n,), i)
                        for i, s in enumerate(model.scales)}}
        logger.info("Eq. 4 on %s's training views (gamma %g, FLOPS_UNIT %s):\n%s", test,
                    model.selector.flops_weight, model.selector.flops_unit,
                    decision_table(decisions, test_costs, model.selector.scale_flops.cpu()))
    labels_made = {"min_height": args.min_height} if args.labels == "rule" else {
        "gamma": cfg.MODEL.DLD.DRS.FLOPS_WEIGHT, "flops_unit": cfg.MODEL.DLD.DRS.FLOPS_UNIT,
        "objective": args.objective}
    command = list(sys.argv[1:] if argv is None else argv)
    model_zoo.save_weights(model.selector, args.out, {
        "command": " ".join(["python", "tools/train_selector.py", *command]),
        "commit": model_zoo.source_commit(), "labels": args.labels, **labels_made,
        "steps": args.steps, "wall_time_s": round(time.time() - start),
        "data": [f"{name} ({MetadataCatalog.get(name).json_file})"
                 for name in cfg.DATASETS.TRAIN]})
    logger.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
