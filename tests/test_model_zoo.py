"""The model zoo: shipped configs and weights, strict loading with clear errors, and the
shipped tiny teacher reads text it has never seen."""
import os
import uuid

import pytest
import torch
from detectron2.modeling import build_model
from testing import REPO, TINY_OPTS

from dld_spotter import model_zoo
from dld_spotter.config import load_config
from dld_spotter.data import register_text_dataset
from dld_spotter.data.synth import generate_split
from dld_spotter.engine import TextSpotterTrainer

SHIPPED = os.path.isfile(os.path.join(os.path.dirname(model_zoo.__file__), "weights",
                                      model_zoo.TRAINED["synth/teacher_tiny.yaml"]))
needs_weights = pytest.mark.skipif(not SHIPPED, reason="no shipped weights in this checkout")


def test_config_names_and_missing_weights_are_clear_errors(monkeypatch):
    assert model_zoo.get_config_file("synth/teacher_tiny.yaml").endswith(
        os.path.join("configs", "synth", "teacher_tiny.yaml"))
    with pytest.raises(FileNotFoundError, match="relative to configs/"):
        model_zoo.get_config_file("synth/no_such.yaml")
    with pytest.raises(KeyError, match="shipped"):
        model_zoo.get_checkpoint_path("synth/dld_tiny.yaml")
    monkeypatch.setitem(model_zoo.TRAINED, "synth/teacher_tiny.yaml", "gone.pth")
    with pytest.raises(FileNotFoundError, match="gone.pth.*scripts/train_teacher.sh"):
        model_zoo.get_config("synth/teacher_tiny.yaml", trained=True)


def test_weights_of_another_architecture_are_refused(tmp_path):
    cfg = load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"), TINY_OPTS)
    path = str(tmp_path / "small.pth")
    model_zoo.save_weights(build_model(cfg), path, {"command": "test"})
    saved = torch.load(path, weights_only=False)
    assert saved["provenance"] == {"command": "test"}
    assert all(v.dtype != torch.float32 for v in saved["model"].values())  # fp16 storage
    model_zoo.load_weights(build_model(cfg), path)  # the same architecture loads
    cfg.defrost()
    cfg.MODEL.REC_HEAD.LSTM_HIDDEN = 48
    with pytest.raises(ValueError, match="small.pth does not fit"):
        model_zoo.load_weights(build_model(cfg), path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        model_zoo.load_weights(build_model(cfg), str(tmp_path / "junk.pth"))


@needs_weights
@pytest.mark.parametrize("config", sorted(model_zoo.TRAINED))
def test_shipped_teachers_are_reachable_the_detectron2_way(config):
    cfg = model_zoo.get_config(config, trained=True)
    assert os.path.isfile(cfg.MODEL.WEIGHTS)
    model = model_zoo.get(config, trained=True, device="cpu")
    assert not model.training
    assert os.path.getsize(cfg.MODEL.WEIGHTS) <= 15 * 2**20
    provenance = torch.load(cfg.MODEL.WEIGHTS, weights_only=False)["provenance"]
    assert provenance["config"] == config and provenance["command"]
    if config.startswith("real/"):  # trained with outside data: every source is named
        assert any("ICDAR 2015" in source for source in provenance["data"])


@needs_weights
def test_shipped_teacher_reads_images_it_has_never_seen(tmp_path):
    """Ten new images at a seed of this test's own: end-to-end H-mean >= 50 guards the
    weights' loading, the charset, the masks and the decoding."""
    root = str(tmp_path)
    generate_split(root, "val", 10, seed=2026)
    name = f"test_zoo_{uuid.uuid4().hex[:8]}"
    register_text_dataset(name, os.path.join(root, "val.json"), os.path.join(root, "val"))
    cfg = model_zoo.get_config("synth/teacher_tiny.yaml", trained=True, opts=[
        "MODEL.DEVICE", "cpu", "DATASETS.TEST", f"('{name}',)", "OUTPUT_DIR", root,
        "TEST.TEXT.FLOPS_IMAGES", "0", "TEST.TEXT.SPEED_IMAGES", "0"])
    model = model_zoo.get("synth/teacher_tiny.yaml", trained=True, device="cpu")
    results = TextSpotterTrainer.test(cfg, model)
    assert results["text_spotting"]["e2e_hmean"] >= 50.0, results
