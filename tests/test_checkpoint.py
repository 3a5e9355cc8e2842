"""Checkpoints (dld_spotter.checkpoint): inference loads strictly, training says what it starts
from, and a corrupt or truncated checkpoint names itself."""
import pytest
import torch
from detectron2.modeling import build_model
from testing import TEACHER_TINY, logged, messages, tiny_opts

from dld_spotter.checkpoint import UnreadableCheckpoint, load_strict
from dld_spotter.config import load_config
from dld_spotter.distill import build_teacher
from dld_spotter.engine import TextPredictor, TextSpotterTrainer


# Inference loads strictly; training says what it starts from.
def test_strict_loading_refuses_mismatched_weights(tiny_weights, tmp_path):
    TextPredictor(tiny_weights)  # its own checkpoint loads
    cfg = tiny_weights.clone()
    cfg.MODEL.WEIGHTS = ""
    with pytest.raises(ValueError, match="MODEL.WEIGHTS is empty"):
        TextPredictor(cfg)
    other = tiny_weights.clone()
    other.MODEL.REC_HEAD.LSTM_HIDDEN = 48
    with pytest.raises(ValueError, match=r"model\.pth does not fit.*shape"):
        TextPredictor(other)
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"model": {"head.weight": torch.zeros(3)}}, unrelated)
    cfg.MODEL.WEIGHTS = str(unrelated)
    with pytest.raises(ValueError, match="unrelated.pth does not fit.*not in the model: head"):
        TextPredictor(cfg)
    with logged("dld_spotter.checkpoint") as records:
        TextPredictor(cfg, allow_partial=True)
    assert "unrelated.pth loaded partially" in messages(records)
    # Training: unexpected keys are refused, missing ones start from their initialisation.
    cfg.OUTPUT_DIR = str(tmp_path)
    with pytest.raises(ValueError, match="unrelated.pth does not fit"):
        TextSpotterTrainer(cfg).resume_or_load(resume=False)
    state = torch.load(tiny_weights.MODEL.WEIGHTS)["model"]
    subset = tmp_path / "no_recognizer.pth"
    torch.save({"model": {k: v for k, v in state.items() if "recognizer" not in k}}, subset)
    cfg.MODEL.WEIGHTS = str(subset)
    with logged("dld_spotter.checkpoint") as records:
        TextSpotterTrainer(cfg).resume_or_load(resume=False)
    assert "no weights for roi_heads.recognizer" in messages(records)
    cfg.MODEL.WEIGHTS = ""
    with logged("dld_spotter.checkpoint") as records:
        TextSpotterTrainer(cfg).resume_or_load(resume=False)
    assert [r.getMessage() for r in records] == [
        "MODEL.WEIGHTS is empty: the model starts from random initialisation"]


# A corrupt or truncated checkpoint names itself.
def test_unreadable_checkpoints_name_the_file(tiny_weights, synth_dataset, tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(open(tiny_weights.MODEL.WEIGHTS, "rb").read()[:5000])
    cfg = tiny_weights.clone()
    cfg.MODEL.WEIGHTS = str(truncated)
    with pytest.raises(ValueError, match="truncated.pth: not a readable checkpoint") as error:
        TextPredictor(cfg)
    assert "weights_only" not in str(error.value)
    config = tmp_path / "teacher.yaml"
    config.write_text(tiny_weights.dump())
    with pytest.raises(ValueError, match="truncated.pth: not a readable checkpoint.*teacher"):
        build_teacher(str(config), str(truncated), "cpu")
    # --resume: the last checkpoint is truncated; the previous readable one is named.
    run = tmp_path / "run"
    cfg = load_config(TEACHER_TINY, tiny_opts(synth_dataset, run))
    trainer = TextSpotterTrainer(cfg)
    trainer.checkpointer.save("model_0000001")
    (run / "model_0000003.pth").write_bytes(truncated.read_bytes())
    trainer.checkpointer.tag_last_checkpoint("model_0000003.pth")
    with pytest.raises(UnreadableCheckpoint, match=r"model_0000003.pth: not a readable.*newest "
                                                   r"readable checkpoint is .*model_0000001.pth"):
        TextSpotterTrainer(cfg).resume_or_load(resume=True)
    model = build_model(cfg)
    with pytest.raises(FileNotFoundError, match="gone.pth.*a hint"):
        load_strict(model, str(tmp_path / "gone.pth"), "a hint")
