"""The demo (projects/DLD/demo.py): its outputs survive a failed re-run, and unreadable images
can be skipped."""
import importlib.util
import json
import os

import cv2
import pytest
from detectron2.data import DatasetCatalog
from testing import REPO, TEACHER_TINY, TINY_OPTS


def _load_demo():
    """projects/DLD/demo.py (not a package) as a module."""
    path = os.path.join(REPO, "projects/DLD/demo.py")
    spec = importlib.util.spec_from_file_location("demo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def run_demo(weights, inputs, output, *flags):
    return demo.main(["--config-file", TEACHER_TINY, "--input", *map(str, inputs), "--output",
                      str(output), *flags, "--opts", *TINY_OPTS, "MODEL.WEIGHTS",
                      weights.MODEL.WEIGHTS, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])


def test_failed_demo_rerun_keeps_the_previous_predictions(tiny_weights, synth_dataset, tmp_path):
    good = DatasetCatalog.get(synth_dataset[1])[0]["file_name"]
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(open(good, "rb").read()[:100])
    out = tmp_path / "demo"
    assert run_demo(tiny_weights, [good], out)
    before = (out / "predictions.json").read_bytes()
    drawing = out / (os.path.splitext(os.path.basename(good))[0] + "_spotted.jpg")
    assert cv2.imread(str(drawing)) is not None
    with pytest.raises(OSError, match="truncated.jpg"):
        run_demo(tiny_weights, [good, bad], out)
    assert (out / "predictions.json").read_bytes() == before
    partial = json.loads((out / "predictions_partial.json").read_text())
    assert partial == json.loads(before)  # what the stopped run spotted is kept apart
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    assert not demo.write_records(str(out / "predictions.json"), [])
    assert (out / "predictions.json").read_bytes() == before


def test_demo_skips_unreadable_images_and_exits_non_zero(tiny_weights, synth_dataset, tmp_path):
    good = DatasetCatalog.get(synth_dataset[1])[0]["file_name"]
    empty, bad = tmp_path / "empty.jpg", tmp_path / "corrupt.png"
    empty.write_bytes(b"")
    bad.write_bytes(b"not an image")
    out = tmp_path / "demo"
    with pytest.raises(SystemExit, match=r"2 of 3 image\(s\).*\n  .*empty.jpg\n  .*corrupt"):
        run_demo(tiny_weights, [empty, good, bad], out, "--skip-bad-images")
    records = json.loads((out / "predictions.json").read_text())
    assert records and {r["file_name"] for r in records} == {good}
