"""Tests of dld_spotter.config: the spotter's and DLD's keys apart, and load_config."""
import os

from detectron2.config import get_cfg
from detectron2.modeling import build_model

from dld_spotter.config import add_dld_config, add_text_spotter_config, load_config
from dld_spotter.modeling import TextSpotter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
