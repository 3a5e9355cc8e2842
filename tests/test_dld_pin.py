"""DLD's numbers pinned: the losses of one training step and the outputs of one inference of
seeded tiny models, for every kind of DLD config, against ``fixtures/dld_pin.json``.

The weights are set from each parameter's name (not from the order in which modules are
built), so that a refactoring which moves parts around but computes the same thing gives the
same numbers. Re-record (``DLD_PIN_RECORD=1 pytest tests/test_dld_pin.py [-k variant]``) only
for a change that is meant to change these numbers, and say so in its commit: "drs_only" was
re-recorded when the student stopped encoding the words a second time, for distillation losses
it does not have (an extra update of the recognizer's BN statistics; its losses were equal).
"""
import json
import os
import zlib

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage
from testing import REPO, tiny_opts, training_batches

from dld_spotter.config import load_config
from dld_spotter.data.mapper import TextDatasetMapper

PIN = os.path.join(os.path.dirname(__file__), "fixtures", "dld_pin.json")
RECORD = os.environ.get("DLD_PIN_RECORD") == "1"
COMMON = ["MODEL.DLD.DRS.THUMBNAIL_SIZE", "32", "MODEL.DLD.DRS.FLOPS", "[6, 5, 4, 3, 2, 1]",
          "MODEL.DLD.DRS.ACC_DTYPE", "float32", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]
BASELINES = [x for k in ("LOGITS", "HINT", "ATTENTION", "AFFINITY", "DET_FEATURE")
             for x in (f"MODEL.DLD.SKD.{k}_WEIGHT", "0.5")]
VARIANTS = {
    "dld": ("dld_tiny.yaml", []),
    "dld_expectation": ("dld_tiny.yaml", ["MODEL.DLD.DRS.ESTIMATOR", "expectation",
                                          "MODEL.DLD.DRS.ACC_MEAN", "image"]),
    "dld_options": ("dld_tiny_gamma0.3.yaml", [
        "MODEL.DLD.DRS.KL_DIRECTION", "teacher_mixture", "MODEL.DLD.DRS.FLOPS_UNIT", "gflops",
        "MODEL.DLD.SKD.TOP_K", "2", "MODEL.DLD.SKD.SEQ_WORDS", "read",
        "MODEL.DLD.SKD.SEQ_LOSS_PER", "sequence", "MODEL.DLD.SKD.ROI_FEATURES", "pooled"]),
    "drs_only": ("dld_tiny_drs_only.yaml", []),
    "skd_only": ("dld_tiny_skd_only.yaml", []),
    "frozen_selector": ("dld_tiny.yaml", ["MODEL.DLD.DRS.LR_FACTOR", "0.0"]),
    "table3_baselines": ("dld_tiny_skd_only.yaml", [
        "MODEL.DLD.DISTILLERS", "('SKD', 'DecoderKD', 'AlignedFeatureKD')", *BASELINES]),
}


# Parameter names of the DLD model as the pin was recorded, by their present prefixes.
RENAMED = {"spotter.": "", "distillers.AlignedFeatureKD.adapters.": "det_adapters."}


def canonical(name: str) -> str:
    """A parameter's name as the pin was recorded."""
    for new, old in RENAMED.items():
        if name.startswith(new):
            return old + name[len(new):]
    return name


@torch.no_grad()
def set_weights_by_name(model: torch.nn.Module) -> None:
    """Every weight from a generator seeded by its name: matrices ~ N(0, 1 / fan_in),
    biases ~ N(0, 0.01^2); normalisation weights keep their (deterministic) defaults."""
    for name, p in model.named_parameters():
        g = torch.Generator().manual_seed(zlib.crc32(canonical(name).encode()))
        if p.dim() >= 2:
            p.copy_(torch.randn(p.shape, generator=g) / p[0].numel() ** 0.5)
        elif name.rsplit(".", 1)[-1].startswith("bias") or p.dim() == 0 or "embed" in name:
            p.copy_(torch.randn(p.shape, generator=g) * 0.01)


def build_seeded(cfg):
    model = build_model(cfg)
    set_weights_by_name(model)
    return model


def run_variant(config, extra, synth_dataset, tmp_path):
    teacher_cfg = load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                              tiny_opts(synth_dataset, tmp_path))
    cfg = load_config(os.path.join(REPO, "configs/synth", config),
                      tiny_opts(synth_dataset, tmp_path, *COMMON, *extra))
    teacher = build_seeded(teacher_cfg).eval().requires_grad_(False)
    model = build_seeded(cfg)
    model.set_teacher(teacher)
    seed_all_rng(0)
    batch = training_batches(cfg, 1)[0]
    torch.manual_seed(0)
    with EventStorage():
        losses = model.train()(batch)
    mapper = TextDatasetMapper(cfg, is_train=False)
    inputs = [mapper(d) for d in DatasetCatalog.get(cfg.DATASETS.TEST[0])[:2]]
    with torch.no_grad():
        outputs = model.eval()(inputs)
    return {
        "losses": {k: float(v) for k, v in sorted(losses.items())},
        "outputs": [{"scale": o["scale"],
                     "boxes": o["instances"].pred_boxes.tensor[:5].flatten().tolist(),
                     "scores": o["instances"].scores[:5].tolist(),
                     "texts": list(o["instances"].pred_texts[:5]),
                     "count": len(o["instances"])} for o in outputs],
    }


@pytest.fixture(scope="module")
def pinned():
    if RECORD:
        yield {}
        return
    with open(PIN) as f:
        yield json.load(f)


@pytest.fixture(scope="module")
def recorded():
    out = {}
    yield out
    if RECORD:  # the variants run (``-k``) replace theirs
        old = json.load(open(PIN)) if os.path.exists(PIN) else {}
        with open(PIN, "w") as f:
            json.dump({**old, **out}, f, indent=1, sort_keys=True)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_one_step_and_one_inference_give_the_pinned_numbers(variant, synth_dataset, tmp_path,
                                                            pinned, recorded):
    torch.set_flush_denormal(True)
    try:
        got = run_variant(*VARIANTS[variant], synth_dataset, tmp_path)
    finally:
        torch.set_flush_denormal(False)
    if RECORD:
        recorded[variant] = got
        return
    want = pinned[variant]
    assert sorted(got["losses"]) == sorted(want["losses"])
    assert got["losses"] == pytest.approx(want["losses"], rel=1e-4, abs=1e-6)
    for g, w in zip(got["outputs"], want["outputs"], strict=True):
        assert (g["scale"], g["count"], g["texts"]) == (w["scale"], w["count"], w["texts"])
        assert g["boxes"] == pytest.approx(w["boxes"], abs=1e-3)
        assert g["scores"] == pytest.approx(w["scores"], abs=1e-5)
