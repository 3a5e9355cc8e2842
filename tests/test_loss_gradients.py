"""tools/loss_gradients.py: which loss trains which module group."""
import re

import pytest
import torch
from testing import load_tool, training_batches

tool = load_tool("loss_gradients")


def test_each_loss_reaches_only_its_modules_and_norms_match_autograd(tiny_weights):
    from detectron2.modeling import build_model
    from detectron2.utils.events import EventStorage

    torch.manual_seed(0)
    model = build_model(tiny_weights)
    batch = training_batches(tiny_weights, 1)[0]
    torch.manual_seed(1)
    norms = tool.gradient_norms(model, [batch])

    assert norms["loss_rec"]["recognizer"] > 0 and norms["loss_rec"]["backbone"] > 0
    assert norms["loss_rec"]["RPN"] == 0 and norms["loss_rec"]["box + mask heads"] == 0
    for det in ("loss_rpn_cls", "loss_cls", "loss_mask"):
        assert norms[det]["recognizer"] == 0 and norms[det]["backbone"] > 0
    assert norms["loss_rpn_cls"]["RPN"] > 0 and norms["loss_cls"]["RPN"] == 0

    torch.manual_seed(1)
    with EventStorage(0):
        losses = model(batch)
    params = list(model.roi_heads.recognizer.parameters())
    grads = torch.autograd.grad(losses["loss_rec"], params, allow_unused=True)
    expected = torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None))
    assert norms["loss_rec"]["recognizer"] == pytest.approx(float(expected), rel=1e-5)
    assert norms["loss_rec"]["value"] == pytest.approx(float(losses["loss_rec"]), rel=1e-5)


def test_main_prints_a_row_per_loss_and_a_column_per_group(tiny_weights, tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(tiny_weights.dump())
    tool.main(["--config-file", str(config), "--batches", "1"])
    out = capsys.readouterr().out
    header = re.search(r"^\| loss \| value \| (.*) \|$", out, re.M).group(1).split(" | ")
    assert header == ["backbone", "RPN", "box + mask heads", "recognizer"]
    rows = re.findall(r"^\| (loss_\w+) \|", out, re.M)
    assert {"loss_rec", "loss_cls", "loss_rpn_cls", "loss_mask"} <= set(rows)


def test_no_batch_is_an_error(tiny_weights):
    from detectron2.modeling import build_model

    with pytest.raises(ValueError, match="no batch"):
        tool.gradient_norms(build_model(tiny_weights), [])
