#!/usr/bin/env python
"""How many word samples does a config's recognition head need before it reads?

    .venv/bin/python tools/recognizer_learning_curve.py   # the tiny teacher's recognizer
    .venv/bin/python tools/recognizer_learning_curve.py MODEL.REC_HEAD.INSTANCE_NORM True

Trains the config's recognizer (``MODEL.REC_HEAD``, ``MODEL.TEXT``) alone, at the config's
recognizer learning rate (``SOLVER.BASE_LR x SOLVER.REC_LR_FACTOR``, AdamW), on upright word
crops rendered with the synthetic set's fonts and words (``--random-string-prob`` of them
random strings), and prints greedy word accuracy on held-out crops as it goes: of the
attention decoder and, with ``MODEL.REC_HEAD.CTC_WEIGHT`` > 0, of the CTC reader. The
config's photometric learning aids (``INPUT.TEXT_AUG.GRAY_PROB`` / ``INVERT_PROB``) apply to
the training crops, never to the held-out ones; ``MODEL.REC_HEAD.SAMPLING_PROB`` to training.

    .venv/bin/python tools/recognizer_learning_curve.py --steps 1600 MODEL.REC_HEAD.CTC_WEIGHT 0.5

The input stands in for ideal backbone features: each crop is rendered at ``stride x`` the
RoI size and folded into ``(3 * stride**2, Hr, Wr)`` (pixel unshuffle), so that every RoI cell
sees the exact pixels of a ``stride x stride`` patch, as a stride-``stride`` feature would at
best. A spotter's recognizer learns from features that are still being learnt and from harder
crops (rotation, perspective, clutter); compare its training samples with this curve.
"""
from __future__ import annotations

import argparse
import time
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.data import transforms as T

from dld_spotter.charset import Charset, build_charset
from dld_spotter.config import load_config
from dld_spotter.data.stream import render_word_crop
from dld_spotter.data.synth import find_fonts
from dld_spotter.data.transforms import build_photometric_aids
from dld_spotter.modeling.recognizer import build_recognizer

INKS = ("random", "white", "grey")


def word_crops(rng: np.random.Generator, fonts: Sequence[str], num: int, size: Tuple[int, int],
               random_string_prob: float, ink: str = "random",
               aids: Sequence[T.Augmentation] = ()) -> Tuple[torch.Tensor, List[str]]:
    """``num`` crops of :func:`~dld_spotter.data.stream.render_word_crop` (a random word in a
    random font filling ``size`` = (H, W)), each through the augmentations ``aids``:
    ``(num, 3, H, W)`` in [-1, 1] and the words."""
    if ink not in INKS:
        raise ValueError(f"ink must be one of {INKS}, got {ink!r}")
    pairs = [render_word_crop(rng, fonts, size, random_string_prob, ink) for _ in range(num)]
    augment = T.AugmentationList(list(aids))
    images = []
    for image, _ in pairs:
        augmented = T.AugInput(image)
        augment(augmented)
        images.append(augmented.image.transpose(2, 0, 1))
    crops = np.stack(images) / 127.5 - 1.0
    return torch.tensor(crops, dtype=torch.float32), [word for _, word in pairs]


def word_accuracy(predictions: Sequence[str], words: Sequence[str], charset: Charset) -> float:
    """Share of exact matches after the charset's normalisation (case folding if it is
    case-insensitive)."""
    hits = sum(p == charset.normalize(w) for p, w in zip(predictions, words))
    return hits / max(len(words), 1)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-file", default="configs/synth/teacher_tiny.yaml")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=64, help="word crops per step")
    parser.add_argument("--stride", type=int, default=4,
                        help="pixels per RoI cell (the recognizer's feature stride)")
    parser.add_argument("--random-string-prob", type=float, default=0.5)
    parser.add_argument("--num-fonts", type=int, default=0,
                        help="render with the first N fonts only (0: all, as the synthetic set)")
    parser.add_argument("--ink", choices=INKS, default="random",
                        help="word colours: random (as the synthetic set), white on black, or "
                        "grey (white on black or black on white)")
    parser.add_argument("--val", type=int, default=300, help="held-out crops")
    parser.add_argument("--every", type=int, default=50, help="evaluate every N steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config options (KEY VALUE ...)")
    args = parser.parse_args(argv)

    cfg = load_config(args.config_file, args.opts)
    torch.manual_seed(args.seed)
    charset = build_charset(cfg)
    hr, wr = cfg.MODEL.REC_HEAD.POOLER_RESOLUTION
    size = (hr * args.stride, wr * args.stride)
    recognizer = build_recognizer(cfg, 3 * args.stride**2).train()
    lr = cfg.SOLVER.BASE_LR * cfg.SOLVER.REC_LR_FACTOR
    optimizer = torch.optim.AdamW(recognizer.parameters(), lr=lr, weight_decay=0.0)
    aids = build_photometric_aids(cfg)
    fonts = find_fonts()[: args.num_fonts or None]
    rng = np.random.default_rng(args.seed)
    val_crops, val_words = word_crops(np.random.default_rng(args.seed + 1), fonts, args.val,
                                      size, args.random_string_prob, args.ink)
    val_inputs = F.pixel_unshuffle(val_crops, args.stride)

    readers = ["attention"] + (["ctc"] if recognizer.ctc is not None else [])
    print(f"{args.config_file} {' '.join(args.opts)}: RoI {hr}x{wr} from {size[0]}x{size[1]} "
          f"crops, lr {lr:g}, batch {args.batch}, {len(fonts)} fonts, {len(aids)} photometric aids")
    print("| step | samples | loss | " + " | ".join(f"{r} word acc %" for r in readers)
          + " | s/step |")
    print("|---:|---:|---:|" + "---:|" * len(readers) + "---:|")
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        crops, words = word_crops(rng, fonts, args.batch, size, args.random_string_prob,
                                  args.ink, aids)
        targets, _ = charset.encode_batch(words)
        loss = sum(recognizer.losses(F.pixel_unshuffle(crops, args.stride), targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % args.every == 0 or step == args.steps:
            recognizer.eval()
            with torch.no_grad():
                accuracies = [100 * word_accuracy(charset.decode_batch(
                    recognizer.decode(val_inputs, 1, reader).ids), val_words, charset)
                    for reader in readers]
            recognizer.train()
            seconds = (time.perf_counter() - start) / step
            print(f"| {step} | {step * args.batch} | {loss.item():.3f} | "
                  + " | ".join(f"{a:.1f}" for a in accuracies) + f" | {seconds:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
