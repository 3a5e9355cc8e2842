"""Fixtures shared by the test files (their shared helpers are in testing.py); each is built
once for the whole tests/ folder (scope "package": the folder is not a Python package)."""
import os
import uuid

import pytest


@pytest.fixture(scope="package")
def synth_dataset(tmp_path_factory):
    """A tiny synthetic data set (6 train / 3 val images, about 192x256), registered.

    Returns:
        (train_name, val_name, root): the registered data set names and the folder holding
        ``train.json``, ``train/``, ``val.json`` and ``val/``.
    """
    from dld_spotter.data import register_text_dataset
    from dld_spotter.data.synth import SynthConfig, generate_dataset

    root = str(tmp_path_factory.mktemp("synth"))
    generate_dataset(root, num_train=6, num_val=3, seed=0,
                     cfg=SynthConfig(height=192, width=256), workers=1)
    tag = uuid.uuid4().hex[:8]
    names = []
    for split in ("train", "val"):
        name = f"test_synth_{split}_{tag}"
        register_text_dataset(name, os.path.join(root, f"{split}.json"), os.path.join(root, split))
        names.append(name)
    return names[0], names[1], root


@pytest.fixture(scope="package")
def tiny_weights(synth_dataset, tmp_path_factory):
    """A config (every box kept) and the checkpoint of a randomly initialised model of it."""
    import torch
    from detectron2.modeling import build_model
    from testing import TEACHER_TINY, tiny_opts

    from dld_spotter.checkpoint import TextCheckpointer
    from dld_spotter.config import load_config

    folder = tmp_path_factory.mktemp("weights")
    cfg = load_config(TEACHER_TINY, tiny_opts(synth_dataset, folder,
                                              "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
                                              "TEST.DETECTIONS_PER_IMAGE", "8"))
    torch.manual_seed(0)
    TextCheckpointer(build_model(cfg), str(folder)).save("model")
    cfg.MODEL.WEIGHTS = str(folder / "model.pth")
    return cfg
