"""Tests of dld_spotter.config: the spotter's and DLD's keys apart, load_config, and the
device the entry points run on."""
import logging
import os
import subprocess
import sys

import pytest
import torch
import yaml
from detectron2.config import get_cfg
from detectron2.modeling import build_model
from testing import REPO

from dld_spotter import model_zoo
from dld_spotter.config import (
    add_dld_config,
    add_text_spotter_config,
    load_config,
    resolve_device,
)
from dld_spotter.modeling import TextSpotter

# train_net.py's setup on a machine without CUDA (in a child process: default_setup seeds the
# RNGs and configures loggers for good).
SETUP = """
import runpy, sys
from detectron2.engine import default_argument_parser
setup = runpy.run_path(sys.argv[1])["setup"]
print("device:", setup(default_argument_parser().parse_args(sys.argv[2:])).MODEL.DEVICE)
"""


def flat_keys(cfg, prefix=""):
    keys = set()
    for k, v in cfg.items():
        keys |= flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
    return keys


def test_dld_keys_are_model_dld_only():
    cfg = get_cfg()
    add_dld_config(cfg)
    added = flat_keys(cfg) - flat_keys(get_cfg())
    assert added and all(k.startswith("MODEL.DLD.") for k in added)


def test_load_config_adds_both():
    spotter, dld = get_cfg(), get_cfg()
    add_text_spotter_config(spotter)
    add_dld_config(dld)
    assert "DLD" not in spotter.MODEL
    assert flat_keys(load_config()) == flat_keys(spotter) | flat_keys(dld)


def test_the_spotter_builds_without_dld_keys():
    cfg = get_cfg()
    add_text_spotter_config(cfg)
    cfg.merge_from_file(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"))
    cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
    assert isinstance(build_model(cfg), TextSpotter)


# --- device -------------------------------------------------------------------------------


@pytest.mark.parametrize("has_cuda", [False, True])
def test_device_default_does_not_depend_on_the_machine(monkeypatch, has_cuda):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_cuda)
    assert load_config().MODEL.DEVICE == "cuda"


def test_entry_points_fall_back_to_the_cpu_without_cuda(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = load_config()
    cfg.freeze()
    logging.getLogger("dld_spotter.config").addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="dld_spotter.config"):
            on_cpu = resolve_device(cfg)
    finally:
        logging.getLogger("dld_spotter.config").removeHandler(caplog.handler)
    assert on_cpu.MODEL.DEVICE == "cpu" and on_cpu.is_frozen()
    assert cfg.MODEL.DEVICE == "cuda"  # the config as configured (train_net's config.yaml)
    assert "CUDA is not available: running on the CPU" in caplog.text
    # An explicit device on the command line is kept, and so is any non-CUDA device.
    opts = ["MODEL.DEVICE", "cuda:1"]
    assert resolve_device(load_config(opts=opts), opts).MODEL.DEVICE == "cuda:1"
    assert resolve_device(load_config(opts=["MODEL.DEVICE", "cpu"])).MODEL.DEVICE == "cpu"
    assert model_zoo.get_config("synth/teacher_tiny.yaml").MODEL.DEVICE == "cpu"
    assert model_zoo.get_config("synth/teacher_tiny.yaml",
                                opts=opts).MODEL.DEVICE == "cuda:1"


def test_entry_points_keep_cuda_where_there_is_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(load_config()).MODEL.DEVICE == "cuda"


def test_train_net_writes_the_configured_device_and_runs_where_it_can(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SETUP, os.path.join(REPO, "projects/DLD/train_net.py"),
         "--config-file", os.path.join(REPO, "configs/synth/teacher_tiny.yaml"), "--eval-only",
         "OUTPUT_DIR", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr
    assert "device: cpu" in result.stdout
    assert "CUDA is not available: running on the CPU" in result.stdout + result.stderr
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["MODEL"]["DEVICE"] == "cuda"


@pytest.mark.parametrize("opts, error, names", [
    (["MODEL.DLD.DRS.LR_FACTOR", "10"], ValueError, ["MODEL.DLD.DRS.LR_FACTOR", "10.0 for 10"]),
    (["MODEL.DLD.DRS.LR_FACTR", "10.0"], AssertionError, ["key: MODEL.DLD.DRS.LR_FACTR"]),
    (["MODEL.DLD.DRS.LR_FACTOR"], AssertionError, ["command-line opts"]),
])
def test_bad_command_line_opts_name_the_key_and_the_fix(opts, error, names):
    with pytest.raises(error) as info:
        load_config("", opts)
    assert all(name in str(info.value) for name in names), str(info.value)
    assert load_config("", ["MODEL.DLD.DRS.LR_FACTOR", "10.0"]).MODEL.DLD.DRS.LR_FACTOR == 10.0


def test_a_missing_config_file_names_the_file_and_where_configs_live():
    with pytest.raises(FileNotFoundError, match="configs/nope.yaml.*configs live in configs/"):
        load_config("configs/nope.yaml")
