"""The evaluator never scores silently wrong: IoU outside (0, 1), scores outside
[0, 1], nothing that can be scored, and zero-area ground truth."""
import json
import logging

import pytest
from testing import record, rect

from dld_spotter.data import load_text_json
from dld_spotter.evaluation import Protocol, evaluate_records
from dld_spotter.evaluation.__main__ import main


def write_files(tmp_path, preds, images=None, annotations=None):
    gt = {"images": [{"id": 1, "file_name": "img_1.jpg", "height": 40, "width": 60}]
          if images is None else images,
          "annotations": [{"id": 1, "image_id": 1, "segmentation": [rect(0, 0, 20, 10)],
                           "text": "HOTEL"}] if annotations is None else annotations}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    return ["--gt", str(tmp_path / "gt.json"), "--pred", str(tmp_path / "pred.json")]


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("iou", ["1.5", "50", "0", "1", "-0.2", "nan", "half"])
def test_iou_outside_0_1_is_an_argument_error(tmp_path, capsys, iou):
    args = write_files(tmp_path, [record(1, rect(0, 0, 20, 10), "HOTEL")])
    with pytest.raises(SystemExit) as e:
        main(args + ["--iou", iou])
    assert e.value.code == 2
    assert "--iou" in capsys.readouterr().err


def test_other_thresholds_are_checked_too(tmp_path, capsys):
    args = write_files(tmp_path, [record(1, rect(0, 0, 20, 10), "HOTEL")])
    for flag, value in (("--rec-score-thresh", "1.5"), ("--lexicon-max-distance", "-1")):
        with pytest.raises(SystemExit):
            main(args + [flag, value])
        assert flag in capsys.readouterr().err
    code, out, _ = run(args + ["--iou", "0.1"], capsys)
    assert code == 0 and json.loads(out)["metrics"]["e2e_hmean"] == 100.0
    with pytest.raises(ValueError, match="iou_threshold must be a number in"):
        Protocol(iou_threshold=1.5)


@pytest.mark.parametrize("key, value", [("score", 1.7), ("text_score", -0.4),
                                        ("score", float("nan"))])
def test_scores_outside_0_1_name_the_file_and_the_first_record(tmp_path, capsys, key, value):
    preds = [record(1, rect(30, 0, 50, 10), "x"), record(1, rect(0, 0, 20, 10), "HOTEL"),
             record(1, rect(0, 20, 20, 30), "y")]
    preds[1][key] = value
    preds[2][key] = value
    code, out, err = run(write_files(tmp_path, preds), capsys)
    assert code == 2 and not out
    assert "pred.json: 2 of 3 prediction records have a score outside [0, 1]" in err
    assert f"the first is record #1 (image 1): {key} {value!r}" in err


def test_the_api_refuses_such_scores_too():
    gt = [{"image_id": 1, "file_name": "a.jpg", "annotations": []}]
    with pytest.raises(ValueError, match="record #0.*score 1.7"):
        evaluate_records(gt, [dict(record(1, rect(0, 0, 9, 9), "x"), score=1.7)])


def test_predictions_only_for_unknown_images_are_an_error(tmp_path, capsys):
    args = write_files(tmp_path, [record(7, rect(0, 0, 20, 10), "HOTEL", file_name="other.jpg")])
    code, out, err = run(args, capsys)
    assert code == 1 and not out
    assert "nothing to score: none of the 1 predictions is for an image of the ground truth" in err


def test_ground_truth_without_images_is_an_error(tmp_path, capsys):
    code, out, err = run(write_files(tmp_path, [], images=[], annotations=[]), capsys)
    assert code == 1 and "nothing to score: the ground truth has no images" in err


def test_only_broken_records_is_an_error(tmp_path, capsys):
    code, _, err = run(write_files(tmp_path, [record(1, [1, 2], "x")]), capsys)
    assert code == 1 and "none of the 1 prediction records is usable" in err


def test_the_only_lexicon_mode_asked_for_unavailable_is_an_error(tmp_path, capsys):
    args = write_files(tmp_path, [record(1, rect(0, 0, 20, 10), "HOTEL")])
    code, _, err = run(args + ["--lexicon", "strong"], capsys)
    assert code == 1
    assert "lexicon mode 'strong' cannot be scored: the ground truth has no per-image" in err
    # One of two modes asked for: scored, with a warning (as before).
    code, out, _ = run(args + ["--lexicon", "strong", "--lexicon", "none"], capsys)
    assert code == 0 and "strong" in json.loads(out)["skipped_lexicon_modes"]
    code, out, _ = run(args + ["--protocol", "ic15"], capsys)  # a preset's modes: not asked for
    assert code == 0


def test_no_predictions_on_a_real_ground_truth_is_still_scored(tmp_path, capsys):
    code, out, _ = run(write_files(tmp_path, []), capsys)
    assert code == 0 and json.loads(out)["metrics"]["det_recall"] == 0.0


def test_zero_area_ground_truth_is_dropped_with_a_warning_everywhere(tmp_path, capsys, caplog):
    """A prediction identical to a zero-area ground truth was a miss and a false positive."""
    line = [0, 0, 20, 0, 40, 0, 10, 0]  # collinear
    annotations = [{"id": 1, "image_id": 1, "segmentation": [rect(0, 10, 20, 20)],
                    "text": "HOTEL"},
                   {"id": 2, "image_id": 1, "segmentation": [line], "text": "FLAT"}]
    preds = [record(1, rect(0, 10, 20, 20), "HOTEL")]
    args = write_files(tmp_path, preds, annotations=annotations)
    with caplog.at_level(logging.WARNING, logger="dld_spotter.data.datasets"):
        code, out, _ = run(args, capsys)
    assert code == 0
    assert "annotation 2 of image 1 (img_1.jpg)" in caplog.text and "zero area" in caplog.text
    metrics = json.loads(out)["metrics"]
    assert metrics["det_recall"] == metrics["e2e_recall"] == 100.0
    # The loader (training, TextSpottingEvaluator) reads the same ground truth.
    dicts = load_text_json(str(tmp_path / "gt.json"), "", check_images=False)
    assert [a["text"] for a in dicts[0]["annotations"]] == ["HOTEL"]
