"""The evaluation command line (python -m dld_spotter.evaluation): scores, lexicon modes and
settings, and one reader of the ground truth with the loader and the evaluator."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from testing import REPO, make_instances, record, rect

from dld_spotter.data import load_text_json, register_text_dataset
from dld_spotter.evaluation import TextSpottingEvaluator
from dld_spotter.evaluation.__main__ import main


def write_cli_files(tmp_path):
    gt = {
        "images": [
            {"id": 1, "file_name": "img_1.jpg", "height": 40, "width": 60,
             "lexicon": ["HOTEL", "PARK", "BANK"]},
            {"id": 2, "file_name": "img_2.jpg", "height": 40, "width": 60,
             "lexicon": ["CAFE"]},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
             "segmentation": [rect(0, 0, 10, 10)], "text": "HOTEL", "ignore": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 0, 10, 10],
             "segmentation": [rect(20, 0, 30, 10)], "text": "PARK", "ignore": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10],
             "segmentation": [rect(0, 0, 10, 10)], "text": "###", "ignore": 1},
        ],
        "categories": [{"id": 1, "name": "text"}],
    }
    preds = [
        record(None, rect(0, 0, 10, 10), "H0TEL", file_name="/elsewhere/img_1.jpg"),
        record(1, rect(20, 0, 30, 10), "PARC"),
        record(2, rect(0, 0, 10, 10), "CAFE"),  # on don't-care: dropped
        record(3, rect(0, 0, 10, 10), "x"),  # unknown image
        record(1, [1, 2], "x"),  # broken
    ]
    generic = tmp_path / "generic.txt"
    generic.write_text("MOTEL\nPARK\nHOSTEL\n", encoding="utf-8")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    return str(tmp_path / "gt.json"), str(tmp_path / "pred.json"), str(generic)


def test_cli(tmp_path, capsys):
    gt, pred, generic = write_cli_files(tmp_path)
    out_dir = tmp_path / "out"
    code = main(["--gt", gt, "--pred", pred, "--protocol", "ic15", "--generic-lexicon", generic,
                 "--output-dir", str(out_dir)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    metrics = summary["metrics"]
    # As in test_lexicon_modes (test_text_evaluator.py); no weak lexicon given: skipped.
    assert metrics["e2e_hmean"] == 0.0
    assert metrics["e2e_strong_hmean"] == 100.0
    assert metrics["e2e_generic_hmean"] == 50.0
    assert "e2e_weak_hmean" not in metrics and "weak" in summary["skipped_lexicon_modes"]
    assert summary["num_unknown_predictions"] == 1 and summary["num_invalid_predictions"] == 1
    assert summary["preset"] == "ic15" and summary["protocol"]["iou_threshold"] == 0.5
    assert summary["protocol"]["matching"] == "official"
    per_image = json.loads((out_dir / "text_per_image.json").read_text())
    assert per_image[0]["details"]["end_to_end"]["strong"]["matches"][0]["pred_text"] == "HOTEL"
    assert per_image[1]["details"]["detection"]["dropped"] == [0]

    # One lexicon mode, IoU 0.1.
    assert main(["--gt", gt, "--pred", pred, "--protocol", "ic15", "--lexicon", "strong",
                 "--iou", "0.1", "--matching", "best"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lexicon_modes"] == ["strong"] and summary["protocol"]["iou_threshold"] == 0.1
    assert summary["protocol"]["matching"] == "best"
    assert "e2e_hmean" not in summary["metrics"] and "ws_strong_hmean" in summary["metrics"]

    # Lexicon rules: at cut-off 0.2, PARC (0.25 from PARK) is left out of the strong mode,
    # H0TEL (0.2 from HOTEL) is kept: 1/1 right, 1 of 2 words; in the generic one (MOTEL,
    # PARK, HOSTEL) H0TEL is 0.4 from MOTEL: nothing is scored. The settings say so.
    assert main(["--gt", gt, "--pred", pred, "--protocol", "ic15", "--generic-lexicon", generic,
                 "--lexicon-max-distance", "0.2", "--lexicon-drop-unmatched",
                 "--lexicon-rec-score-thresh", "0.3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lexicon_rules"] == {"max_distance": 0.2, "drop_unmatched": True,
                                        "rec_score_thresh": 0.3}
    metrics = summary["metrics"]
    assert metrics["e2e_strong_precision"] == 100.0 and metrics["e2e_strong_recall"] == 50.0
    assert metrics["e2e_generic_precision"] == metrics["e2e_generic_recall"] == 0.0
    assert metrics["det_recall"] == 100.0

    assert main(["--gt", str(tmp_path / "missing.json"), "--pred", pred]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err


def test_cli_as_a_module(tmp_path):
    gt, pred, _ = write_cli_files(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dld_spotter.evaluation", "--gt", gt, "--pred", pred,
         "--protocol", "totaltext"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # Full lexicon = union of per-image lexicons: H0TEL -> HOTEL, PARC -> PARK.
    assert summary["metrics"]["e2e_full_hmean"] == 100.0
    assert summary["e2e_convention"].startswith("Mask TextSpotter")
    assert "prediction records are broken" in result.stderr


def test_cli_and_evaluator_read_the_ground_truth_as_the_loader(tmp_path, capsys):
    """One reader: a word annotated in two parts is one ground truth (scored as their union),
    "###" and empty texts are don't-care, in the loader, the evaluator and the CLI alike."""
    exit_parts = [rect(0, 0, 10, 10), rect(12, 0, 22, 10)]  # one word behind a pole
    gt = {
        "images": [{"id": 1, "file_name": "img_1.jpg", "height": 40, "width": 60}],
        "annotations": [
            {"id": 1, "image_id": 1, "segmentation": exit_parts, "text": "EXIT", "ignore": 0},
            {"id": 2, "image_id": 1, "segmentation": [rect(30, 0, 40, 10)], "text": "###",
             "ignore": 0},
            {"id": 3, "image_id": 1, "segmentation": [rect(45, 0, 55, 10)], "text": "",
             "ignore": 0},
            {"id": 4, "image_id": 1, "segmentation": [rect(0, 20, 20, 30)], "text": "SALE",
             "ignore": 0},
        ],
    }
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(gt))
    cv2.imwrite(str(tmp_path / "img_1.jpg"), np.zeros((40, 60, 3), np.uint8))
    dicts = load_text_json(str(gt_file), str(tmp_path))
    assert dicts[0]["annotations"][0]["segmentation"] == exit_parts
    assert [(a["text"], a["ignore"]) for a in dicts[0]["annotations"]] == [
        ("EXIT", 0), ("###", 1), ("###", 1), ("SALE", 0)]

    name = "test_protocols_one_reader"
    register_text_dataset(name, str(gt_file), str(tmp_path))
    try:
        evaluator = TextSpottingEvaluator(name, output_dir=str(tmp_path / "evaluator"),
                                          distributed=False)
        boxes = [rect(0, 0, 22, 10), rect(30, 0, 40, 10), rect(45, 0, 55, 10), rect(0, 20, 20, 30)]
        evaluator.process([{"image_id": 1, "file_name": str(tmp_path / "img_1.jpg")}],
                          [{"instances": make_instances(40, 60, boxes, ["EXIT", "x", "y", "SALE"],
                                                        [0.9] * 4)}])
        metrics = evaluator.evaluate()["text_spotting"]
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    # EXIT's box covers both parts (IoU 200 / 220 with their union, 100 / 220 with the first);
    # the boxes on the two don't-care regions are dropped.
    assert metrics["det_hmean"] == metrics["e2e_hmean"] == pytest.approx(100.0)

    evaluated = tmp_path / "evaluator"
    assert main(["--gt", str(gt_file), "--pred", str(evaluated / "text_predictions.json"),
                 "--output-dir", str(tmp_path / "cli")]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == metrics
    ours, theirs = (json.loads((tmp_path / d / "text_results.json").read_text())
                    for d in ("evaluator", "cli"))
    assert ours["images"][0]["detection"] == theirs["images"][0]["detection"] == {
        "num_gt_care": 2, "num_gt_dont_care": 2, "num_pred": 2, "num_pred_dropped": 2,
        "num_tp": 2}
    ours, theirs = (json.loads((tmp_path / d / "text_per_image.json").read_text())
                    for d in ("evaluator", "cli"))
    assert ours[0]["details"] == theirs[0]["details"]
