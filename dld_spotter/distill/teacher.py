"""The frozen high-resolution teacher of DLD (§3.1), built from its own config and checkpoint."""
from __future__ import annotations

from detectron2.modeling import build_model
from detectron2.utils.file_io import PathManager
from torch import nn

from ..checkpoint import load_strict
from ..config import load_config


def build_teacher(config_file: str, weights: str, device: str) -> nn.Module:
    """The teacher of ``config_file`` with the weights of ``weights``, in eval mode and with
    ``requires_grad=False``.

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` when the checkpoint
    does not fit the config's architecture, naming the files in both cases.
    """
    for key, path in (("CONFIG", config_file), ("WEIGHTS", weights)):
        if not path or not PathManager.isfile(path):
            raise FileNotFoundError(
                f"MODEL.DLD.TEACHER.{key} {path!r} does not exist: DLD distils a trained "
                "teacher; train it first (e.g. train_net.py --config-file "
                "configs/synth/teacher_tiny.yaml) and name its config and checkpoint there"
            )
    cfg = load_config(config_file, ["MODEL.DEVICE", device])
    teacher = load_strict(build_model(cfg), weights,
                          f"name the config it was trained with in MODEL.DLD.TEACHER.CONFIG "
                          f"(now {config_file})")
    teacher.eval().requires_grad_(False)
    return teacher
