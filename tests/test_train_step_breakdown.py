"""tools/train_step_breakdown.py: per-part training-step time of configs side by side."""
import os
import re

import pytest
from testing import REPO, load_tool, tiny_opts

tool = load_tool("train_step_breakdown")
DLD_TINY = os.path.join(REPO, "configs/synth/dld_tiny.yaml")


def test_parts_add_up_to_the_step_and_only_a_selector_has_its_parts(
        synth_dataset, tiny_weights, tmp_path, capsys):
    teacher = tmp_path / "teacher.yaml"
    teacher.write_text(tiny_weights.dump())
    weights = tiny_weights.MODEL.WEIGHTS
    opts = tiny_opts(synth_dataset, tmp_path, "MODEL.WEIGHTS", weights,
                     "MODEL.DLD.TEACHER.CONFIG", str(teacher), "MODEL.DLD.TEACHER.WEIGHTS",
                     weights, "MODEL.DLD.DRS.THUMBNAIL_SIZE", "32",
                     "MODEL.DLD.DRS.FLOPS", "[6, 5, 4, 3, 2, 1]")
    tool.main(["--model", "SKD-only", DLD_TINY, *opts, "MODEL.DLD.FIXED_SCALE", "0.5",
               "--model", "DLD", DLD_TINY, *opts, "--iters", "2", "--warmup", "1"])
    rows = {name: cells.split(" | ") for name, cells in
            re.findall(r"^\| (\S[^|]*?) \| ([0-9.–]+ \| [0-9.–]+) \|$",
                       capsys.readouterr().out, re.M)}
    assert list(rows) == [*tool.ROWS, "**total**", "× SKD-only"]
    for column in (0, 1):
        parts = [float(rows[p][column]) for p in tool.ROWS if rows[p][column] != "–"]
        assert sum(parts) == pytest.approx(float(rows["**total**"][column]), abs=0.004)
    for part in ("selector", "student at every scale"):
        assert rows[part][0] == "–" and float(rows[part][1]) > 0
    assert float(rows["teacher"][0]) > 0 and float(rows["teacher"][1]) > 0
    assert float(rows["× SKD-only"][0]) == 1.0


def test_a_model_without_enough_batches_is_an_error(tiny_weights):
    import torch
    from detectron2.modeling import build_model

    model = build_model(tiny_weights)
    with pytest.raises(ValueError, match="no batch after the 2 warm-up"):
        tool.breakdown(model, torch.optim.SGD(model.parameters(), lr=0.1), [[]], warmup=2)
