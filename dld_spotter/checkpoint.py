"""Strict checkpoint loading: every key of the model present, none extra, shapes equal."""
from __future__ import annotations

import pickle

import torch
from detectron2.utils.file_io import PathManager
from torch import nn


def load_strict(model: nn.Module, path: str, fix: str) -> nn.Module:
    """Load the detectron2 checkpoint ``path`` (a file or a ``PathManager`` path such as
    ``dld_spotter://teacher_tiny.pth``) into ``model``, or raise naming the file and ``fix``:
    ``FileNotFoundError`` if it is missing, ``ValueError`` if it is no checkpoint or does not
    fit the model (another architecture)."""
    local = PathManager.get_local_path(path)
    try:
        checkpoint = torch.load(local, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path!r} does not exist; {fix}") from None
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise ValueError(f"{path}: not a readable checkpoint ({e}); {fix}") from None
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a checkpoint saved by detectron2 (no 'model' dict); {fix}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        detail = "; ".join(line.strip() for line in str(e).splitlines()[1:4])
        raise ValueError(f"{path} does not fit the model's architecture ({detail}, ...); "
                         f"{fix}") from None
    return model
