"""Configs and trained weights shipped with the package, reachable the detectron2 way.

    from dld_spotter import model_zoo
    cfg = model_zoo.get_config("synth/teacher_tiny.yaml", trained=True)  # MODEL.WEIGHTS set
    model = model_zoo.get("synth/teacher_tiny.yaml", trained=True)        # built, loaded, eval

The weights are the package's own files (``dld_spotter/model_zoo/weights/``, fp16 storage);
nothing is downloaded. Their metrics and provenance are in ``MODEL_ZOO.md``. Configs name them
as ``dld_spotter://<file>`` (e.g. ``MODEL.WEIGHTS dld_spotter://teacher_tiny.pth``), a path
that detectron2's ``PathManager`` resolves to the installed file.
"""
from __future__ import annotations

import os
import subprocess
from typing import Dict, Optional, Sequence

import torch
from detectron2.config import CfgNode
from detectron2.modeling import build_model
from detectron2.utils.file_io import PathManager
from iopath.common.file_io import PathHandler
from torch import nn

from ..checkpoint import load_strict
from ..config import load_config, resolve_device

__all__ = ["TRAINED", "get", "get_checkpoint_path", "get_config", "get_config_file",
           "load_weights", "save_weights"]

_HERE = os.path.dirname(os.path.abspath(__file__))
# Config (relative to configs/) -> shipped weights file (in weights/).
TRAINED: Dict[str, str] = {"synth/teacher_tiny.yaml": "teacher_tiny.pth",
                           "real/teacher_tiny_real.yaml": "teacher_tiny_real.pth",
                           "synth/seg_teacher_tiny.yaml": "seg_teacher_tiny.pth"}
PREFIX = "dld_spotter://"


class ShippedWeightsHandler(PathHandler):
    """``dld_spotter://<file>`` -> the package's ``weights/<file>``; an error with the fix if
    it is not there."""

    def _get_supported_prefixes(self):
        return [PREFIX]

    @staticmethod
    def _local(path: str) -> str:
        return os.path.join(_HERE, "weights", path[len(PREFIX):])

    def _get_local_path(self, path: str, **kwargs) -> str:
        local = self._local(path)
        if not os.path.isfile(local):
            raise FileNotFoundError(
                f"{path}: the shipped weights {local} are missing; shipped: {sorted(TRAINED)}. "
                "Reinstall the package, or retrain them with scripts/train_teacher.sh")
        return local

    def _open(self, path: str, mode: str = "r", **kwargs):
        return PathManager.open(self._get_local_path(path), mode, **kwargs)

    def _isfile(self, path: str, **kwargs) -> bool:
        return os.path.isfile(self._local(path))


PathManager.register_handler(ShippedWeightsHandler())


def _config_root() -> str:
    """``configs/``: inside the installed package, else the source tree's."""
    for root in (os.path.join(_HERE, "configs"), os.path.join(_HERE, "..", "..", "configs")):
        if os.path.isdir(root):
            return os.path.normpath(root)
    raise FileNotFoundError(f"no configs/ next to {_HERE}: reinstall the package (pip install .)")


def get_config_file(config_path: str) -> str:
    """Absolute path of a shipped config, e.g. ``"synth/teacher_tiny.yaml"``."""
    path = os.path.join(_config_root(), config_path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{config_path!r} is not a config of the model zoo (looked for "
                                f"{path}); configs are named relative to configs/")
    return path


def get_checkpoint_path(config_path: str) -> str:
    """The shipped weights of ``config_path``; an error names what is shipped if none."""
    if config_path not in TRAINED:
        raise KeyError(f"no trained weights are shipped for {config_path!r}; shipped: "
                       f"{sorted(TRAINED)}")
    return PathManager.get_local_path(PREFIX + TRAINED[config_path])


def get_config(config_path: str, trained: bool = False, opts: Sequence[str] = ()) -> CfgNode:
    """The config (dld keys added), ``MODEL.WEIGHTS`` set to the shipped weights if
    ``trained``, then ``opts``; on the CPU where CUDA is not available unless ``opts`` set
    ``MODEL.DEVICE`` (:func:`~dld_spotter.config.resolve_device`)."""
    extra = ["MODEL.WEIGHTS", get_checkpoint_path(config_path)] if trained else []
    opts = extra + list(opts)
    return resolve_device(load_config(get_config_file(config_path), opts), opts)


def source_commit() -> str:
    """The git commit of this package's checkout ('' outside one): a weight file's provenance."""
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()


def save_weights(model: nn.Module, path: str, provenance: dict) -> None:
    """Write ``model``'s state dict in fp16 (floating tensors) with ``provenance`` (command,
    commit, ...) as a detectron2 checkpoint, atomically."""
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    tmp = f"{path}.tmp"
    torch.save({"model": state, "provenance": provenance, "matching_heuristics": False}, tmp)
    os.replace(tmp, path)


def load_weights(model: nn.Module, path: str) -> nn.Module:
    """Load a checkpoint (a file or ``dld_spotter://...``) into ``model`` strictly."""
    return load_strict(model, path, "use the config the weights were trained with, or "
                       "reinstall the package / retrain them (scripts/train_teacher.sh)")


def get(config_path: str, trained: bool = False, device: Optional[str] = None) -> nn.Module:
    """The built model of ``config_path`` in eval mode, with the shipped weights if
    ``trained`` (loaded strictly)."""
    opts = ["MODEL.DEVICE", device] if device else []
    cfg = get_config(config_path, trained=False, opts=opts)
    model = build_model(cfg)
    if trained:
        load_weights(model, get_checkpoint_path(config_path))
    return model.eval()
