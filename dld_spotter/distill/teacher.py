"""The frozen high-resolution teacher of DLD (§3.1), built from its own config and checkpoint."""
from __future__ import annotations

import os

import torch
from detectron2.modeling import build_model
from torch import nn

from ..config import load_config


def build_teacher(config_file: str, weights: str, device: str) -> nn.Module:
    """The teacher of ``config_file`` with the weights of ``weights``, in eval mode and with
    ``requires_grad=False``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` when the checkpoint
    does not fit the config's architecture, naming the files in both cases.
    """
    for key, path in (("CONFIG", config_file), ("WEIGHTS", weights)):
        if not path or not os.path.isfile(path):
            raise FileNotFoundError(
                f"MODEL.DLD.TEACHER.{key} {path!r} does not exist: DLD distils a trained "
                "teacher; train it first (e.g. train_net.py --config-file "
                "configs/synth/teacher_tiny.yaml) and name its config and checkpoint there"
            )
    cfg = load_config(config_file, ["MODEL.DEVICE", device])
    teacher = build_model(cfg)
    checkpoint = torch.load(weights, map_location=device, weights_only=False)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{weights}: not a checkpoint saved by detectron2 (no 'model' dict)")
    try:
        teacher.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:4])
        raise ValueError(
            f"Teacher checkpoint {weights} does not fit the architecture of {config_file} "
            f"({detail}, ...). Name the config the checkpoint was trained with in "
            "MODEL.DLD.TEACHER.CONFIG"
        ) from None
    teacher.eval().requires_grad_(False)
    return teacher
