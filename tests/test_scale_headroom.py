"""The per-image scale headroom tool (tools/scale_headroom.py) against hand-worked cases."""
import json

import pytest
from testing import load_tool

from dld_spotter.evaluation.protocol import ImageResult


def counts(tp: int, fp: int, fn: int) -> ImageResult:
    return ImageResult(num_tp=tp, num_pred=tp + fp, num_gt_care=tp + fn)


def test_combining_scales_per_image_sums_counts_before_the_h_mean():
    tool = load_tool("scale_headroom")
    runs = {1.0: {1: counts(2, 0, 0), 2: counts(1, 1, 1)},
            0.5: {1: counts(2, 0, 0), 2: counts(0, 2, 2)}}
    cost = {1.0: 100.0, 0.5: 40.0}
    # image 1 at 0.5, image 2 at 1.0: TP 3, FP 1, FN 1 -> P = R = 0.75
    assert tool.combine(runs, cost, {1: 0.5, 2: 1.0}) == pytest.approx((75.0, 70.0))
    assert tool.oracle(runs, cost, [1, 2], lam=0.1) == {1: 0.5, 2: 1.0}
    assert tool.oracle(runs, cost, [1, 2], lam=10.0) == {1: 0.5, 2: 0.5}


def test_size_rule_picks_the_smallest_scale_that_keeps_the_smallest_word_legible(tmp_path):
    tool = load_tool("scale_headroom")
    coco = {"images": [{"id": 1, "height": 240, "width": 320},
                       {"id": 2, "height": 480, "width": 640}],
            "annotations": [
                {"id": 1, "image_id": 1, "segmentation": [[0, 0, 80, 0, 80, 10, 0, 10]]},
                {"id": 2, "image_id": 1, "segmentation": [[0, 0, 80, 0, 80, 40, 0, 40]]},
                {"id": 3, "image_id": 2, "segmentation": [[0, 0, 80, 0, 80, 2, 0, 2]],
                 "ignore": 1},
                {"id": 4, "image_id": 2, "segmentation": [[0, 0, 90, 0, 90, 30, 0, 30]]}]}
    path = tmp_path / "val.json"
    path.write_text(json.dumps(coco))
    heights = tool.smallest_word_heights(str(path), base_size=480)
    assert heights == pytest.approx({1: 20.0, 2: 30.0})  # image 1 doubled to S-480
    scales = [1.0, 0.8, 0.6, 0.4]
    assert tool.size_rule(heights, scales, [1, 2, 3], 12) == {1: 0.6, 2: 0.4, 3: 0.4}
    assert tool.size_rule(heights, scales, [1, 2, 3], 25) == {1: 1.0, 2: 1.0, 3: 0.4}


def test_a_students_choices_are_read_from_its_evaluation_and_bad_folders_are_named(tmp_path):
    tool = load_tool("scale_headroom")
    (tmp_path / "text_per_image.json").write_text(json.dumps(
        [{"image_id": 1, "details": {}, "scale": 0.8},
         {"image_id": 2, "details": {}, "scale": 0.3}]))
    assert tool.selector_choices(str(tmp_path)) == {1: 0.8, 2: 0.3}
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "text_per_image.json").write_text(json.dumps([{"image_id": 1, "details": {}}]))
    with pytest.raises(ValueError, match="not a DLD student"):
        tool.selector_choices(str(teacher))
    with pytest.raises(FileNotFoundError, match="missing"):
        tool.selector_choices(str(tmp_path / "missing"))
