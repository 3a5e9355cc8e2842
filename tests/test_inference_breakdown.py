"""tools/inference_breakdown.py: per-stage inference time of trained models."""
import re

import pytest
from testing import load_tool

tool = load_tool("inference_breakdown")


def test_stages_add_up_to_the_measured_total_and_every_stage_that_runs_is_timed(
        synth_dataset, tiny_weights, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_weights.dump())
    _, val, _ = synth_dataset
    tool.main(["--model", "T", str(config), tiny_weights.MODEL.WEIGHTS, "--dataset", val,
               "--images", "2", "--warmup", "1"])
    rows = dict(re.findall(r"^\| (\S[^|]*?) \| ([0-9.–]+) \|$", capsys.readouterr().out, re.M))
    stages = ["backbone", "RPN", "box head", "mask head", "recognition", "other"]
    assert list(rows)[:len(stages) + 1] == [*stages, "**total**"]  # no selector: no row
    # every box is kept (tiny_weights), so masks and texts are computed for every image
    assert all(float(rows[s]) > 0 for s in stages[:-1])
    assert sum(float(rows[s]) for s in stages) == pytest.approx(float(rows["**total**"]),
                                                                abs=0.35)


def test_a_model_without_enough_images_is_an_error(tiny_weights):
    from detectron2.modeling import build_model

    with pytest.raises(ValueError, match="no image after the 2 warm-up"):
        tool.breakdown(build_model(tiny_weights), [], warmup=2)
