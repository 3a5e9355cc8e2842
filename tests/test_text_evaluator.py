"""Evaluation of prediction records and the evaluator (dld_spotter.evaluation.text_evaluator):
lexicon modes, Total-Text's conventions, bad input, the detectron2 evaluator and its settings."""
import dataclasses
import json
import logging

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import BoxMode
from testing import assert_prh, bbox_xywh, make_instances, record, rect

from dld_spotter.config import load_config
from dld_spotter.evaluation import (
    LexiconRules,
    Protocol,
    TextSpottingEvaluator,
    evaluate_records,
    format_results_table,
    metrics_in_percent,
)

# --- lexicon modes end to end ----------------------------------------------------------------


def dataset_dict(image_id, words, lexicon=None):
    """Image whose words (text, ignore) are 10x10 boxes, 20 apart along x."""
    d = {
        "image_id": image_id,
        "file_name": f"/data/img_{image_id}.jpg",
        "annotations": [
            {"segmentation": [rect(20 * k, 0, 20 * k + 10, 10)], "text": t, "ignore": ig}
            for k, (t, ig) in enumerate(words)
        ],
    }
    if lexicon is not None:
        d["lexicon"] = lexicon
    return d


LEXICON_GT = [dataset_dict(1, [("HOTEL", 0), ("PARK", 0)], lexicon=["HOTEL", "PARK", "BANK"])]
LEXICON_PREDS = [record(1, rect(0, 0, 10, 10), "H0TEL"), record(1, rect(20, 0, 30, 10), "PARC")]


def test_lexicon_modes():
    results = evaluate_records(
        LEXICON_GT, LEXICON_PREDS, preset="ic15",
        lexicons={"weak": ["HOTEL", "PARK", "PARC"], "generic": ["MOTEL", "PARK", "HOSTEL"]},
    )
    e2e = results["end_to_end"]
    # none: both readings wrong: P = R = H = 0/2.
    assert_prh(e2e["none"], 0.0, 0.0, 0.0)
    # strong (HOTEL, PARK, BANK): H0TEL -> HOTEL, PARC -> PARK: 2/2.
    assert_prh(e2e["strong"], 1.0, 1.0, 1.0)
    # weak (HOTEL, PARK, PARC): H0TEL -> HOTEL, PARC stays (distance 0): 1/2.
    assert_prh(e2e["weak"], 0.5, 0.5, 0.5)
    # generic (MOTEL, PARK, HOSTEL): H0TEL is 2 from MOTEL and from HOSTEL; the first in the
    # lexicon, MOTEL, wins: wrong; PARC -> PARK: 1/2.
    assert_prh(e2e["generic"], 0.5, 0.5, 0.5)
    # All are dictionary words: word spotting = end to end.
    assert results["word_spotting"] == e2e
    metrics = metrics_in_percent(results)
    assert metrics["e2e_strong_hmean"] == 100.0 and metrics["e2e_hmean"] == 0.0
    assert metrics["ws_weak_hmean"] == 50.0 and metrics["det_hmean"] == 100.0
    table = format_results_table(metrics)
    for column in ("Det-H", "E2E-S", "E2E-W", "E2E-G", "E2E-None", "WS-G"):
        assert column in table


def test_lexicon_rules_drop_unmatched_readings_and_set_their_own_threshold():
    # A third prediction, on background, reads "ZZZZ" confidently; PARC scores 0.4.
    preds = [record(1, rect(0, 0, 10, 10), "H0TEL", text_score=0.9),
             record(1, rect(20, 0, 30, 10), "PARC", text_score=0.4),
             record(1, rect(50, 0, 60, 10), "ZZZZ", text_score=0.9)]
    # Default rules: ZZZZ -> PARK (always replaced): a false positive; strong 2/3 P, 2/2 R.
    default = evaluate_records(LEXICON_GT, preds, preset="ic15", lexicons={})
    assert_prh(default["end_to_end"]["strong"], 2 / 3, 1.0, 0.8)
    # Cut-off 0.5, dropped when unmatched: ZZZZ (4 from BANK, 1.0) is left out; H0TEL (0.2)
    # and PARC (0.25) are corrected: 2/2.
    rules = LexiconRules(0.5, drop_unmatched=True)
    dropped = evaluate_records(LEXICON_GT, preds, preset="ic15", lexicons={},
                               lexicon_rules=rules)
    assert_prh(dropped["end_to_end"]["strong"], 1.0, 1.0, 1.0)
    # Kept as read instead: ZZZZ stays a false positive.
    kept = evaluate_records(LEXICON_GT, preds, preset="ic15", lexicons={},
                            lexicon_rules=LexiconRules(0.5))
    assert_prh(kept["end_to_end"]["strong"], 2 / 3, 1.0, 0.8)
    # rec_score_thresh 0.5 leaves PARC out of every mode; the lexicon modes' own 0.3 keeps it
    # there, and lexicon-free scoring keeps 0.5.
    strict = evaluate_records(LEXICON_GT, preds, None, None, 0.5, preset="ic15", lexicons={},
                              lexicon_rules=dataclasses.replace(rules, rec_score_thresh=0.3))
    assert_prh(strict["end_to_end"]["strong"], 1.0, 1.0, 1.0)
    assert strict["end_to_end"]["none"]["num_pred"] == 2
    assert strict["detection"]["num_pred"] == 3


def test_missing_lexicons_are_skipped_with_a_warning(caplog):
    gt = [dataset_dict(1, [("HOTEL", 0), ("PARK", 0)])]  # no per-image lexicon
    with caplog.at_level(logging.WARNING):
        results = evaluate_records(gt, LEXICON_PREDS, preset="ic15")
    assert set(results["end_to_end"]) == {"none"}
    assert set(results["skipped_lexicon_modes"]) == {"strong", "weak", "generic"}
    assert "Lexicon modes not evaluated" in caplog.text


# --- Total-Text: both conventions, full lexicon ---------------------------------------------

TT_GT = [
    dataset_dict(1, [("WORLD", 0), ("ab", 0), ("12", 0)], lexicon=["WORLD", "ab", "12"]),
    dataset_dict(2, [("CAFE", 0), ("###", 1)], lexicon=["CAFE", "HOUSE"]),
]
TT_PREDS = [
    record(1, rect(0, 0, 10, 10), "W0RLD"),
    record(1, rect(20, 0, 30, 10), "ab"),
    record(1, rect(40, 0, 50, 10), "13"),
    record(2, rect(0, 0, 10, 10), "CAFE"),
    record(2, rect(20, 0, 30, 10), "HOUSE"),  # on the don't-care region: dropped
]


def test_totaltext_both_conventions():
    mts = evaluate_records(TT_GT, TT_PREDS, preset="totaltext")
    assert set(mts["end_to_end"]) == {"none", "full"}
    # Mask TextSpotter (rules off): care GT = WORLD, ab, 12, CAFE (4); kept predictions 4.
    # None: TP = ab, CAFE: P = R = H = 2/4.
    assert_prh(mts["end_to_end"]["none"], 0.5, 0.5, 0.5)
    # Full (union of per-image lexicons): W0RLD -> WORLD, 13 -> 12 (distance 1, first):
    # TP = 4: P = R = H = 1.
    assert_prh(mts["end_to_end"]["full"], 1.0, 1.0, 1.0)
    # Word spotting: ab and 12 are don't-care and their predictions dropped: care GT = WORLD,
    # CAFE; kept predictions 2. None: TP = CAFE: 1/2. Full: 2/2.
    assert_prh(mts["word_spotting"]["none"], 0.5, 0.5, 0.5)
    assert_prh(mts["word_spotting"]["full"], 1.0, 1.0, 1.0)
    # AdelaiDet (rules on in end to end too): end to end = word spotting.
    adelai = evaluate_records(TT_GT, TT_PREDS, preset="totaltext", e2e_word_spotting=True)
    assert adelai["end_to_end"] == mts["word_spotting"]


def test_iou_01_criterion_for_mango():
    # One word; the prediction covers 3/10 of it (IoU 0.3) with the right text.
    gt = [dataset_dict(1, [("HOTEL", 0)])]
    preds = [record(1, rect(0, 0, 3, 10), "hotel")]
    assert evaluate_records(gt, preds)["end_to_end"]["none"]["hmean"] == 0.0
    loose = evaluate_records(gt, preds, protocol=Protocol(iou_threshold=0.1))
    assert loose["end_to_end"]["none"]["hmean"] == 1.0


def test_rec_score_threshold_applies_to_end_to_end_only():
    gt = [dataset_dict(1, [("HOTEL", 0)])]
    preds = [record(1, rect(0, 0, 10, 10), "HOTEL", text_score=0.3)]
    results = evaluate_records(gt, preds, rec_score_thresh=0.5)
    assert results["detection"]["num_tp"] == 1
    assert results["end_to_end"]["none"]["num_pred"] == 0


# --- bad input ------------------------------------------------------------------------------


def test_broken_and_unknown_predictions_are_reported_not_fatal(caplog):
    gt = [dataset_dict(1, [("HOTEL", 0)])]
    preds = [
        record(None, rect(0, 0, 10, 10), "HOTEL", file_name="other/dir/img_1.jpg"),  # by name
        record(1, [0, 0, 5, 5], "x"),  # 2 points
        record(1, [0, 0, 5, "a", 3, 3], "x"),  # not numbers
        {"image_id": 1, "box": [0, 0, 4, 4], "text": 7},  # text not a string
        "not a record",
        record(7, rect(0, 0, 10, 10), "x"),  # unknown image
        {"image_id": 1, "box": [30, 0, 40, 10]},  # box only: a valid (false positive) record
    ]
    with caplog.at_level(logging.WARNING):
        results = evaluate_records(gt, preds)
    assert results["num_invalid_predictions"] == 4
    assert results["num_unknown_predictions"] == 1
    assert "4 of 7 prediction records are broken" in caplog.text
    assert "record #1 (image 1)" in caplog.text
    assert "1 images with 1 predictions are not in the ground truth" in caplog.text
    # Scored: the record matched by file name (TP) and the box-only record (FP, text "").
    assert results["detection"]["num_tp"] == 1 and results["detection"]["num_pred"] == 2
    assert_prh(results["end_to_end"]["none"], 0.5, 1.0, 2 / 3)


# --- evaluator ----------------------------------------------------------------------------------

GT_IMAGES = {
    # image_id: (polygons, texts, ignore)
    1: ([rect(5, 5, 25, 15), rect(30, 5, 50, 15)], ["Hello", "###"], [0, 1]),
    2: ([rect(5, 20, 40, 35), rect(45, 20, 58, 35)], ["World", "abc"], [0, 0]),
}


@pytest.fixture
def dataset_name():
    name = "test_evaluation_hand_made"

    def load():
        dicts = []
        for image_id, (polygons, texts, ignore) in GT_IMAGES.items():
            annotations = [
                {
                    "bbox": bbox_xywh(p),
                    "bbox_mode": BoxMode.XYWH_ABS,
                    "segmentation": [p],
                    "category_id": 0,
                    "text": t,
                    "ignore": ig,
                    "iscrowd": 0,
                }
                for p, t, ig in zip(polygons, texts, ignore)
            ]
            dicts.append(
                {
                    "file_name": f"/data/{image_id}.jpg",
                    "height": 40,
                    "width": 60,
                    "image_id": image_id,
                    "annotations": annotations,
                }
            )
        return dicts

    DatasetCatalog.register(name, load)
    MetadataCatalog.get(name).set(thing_classes=["text"], evaluator_type="text")
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


@pytest.mark.parametrize("distributed", [False, True])
def test_evaluator_end_to_end(dataset_name, tmp_path, caplog, distributed):
    evaluator = TextSpottingEvaluator(
        dataset_name, output_dir=str(tmp_path), distributed=distributed, rec_score_thresh=0.5
    )
    evaluator.reset()
    polygons1 = GT_IMAGES[1][0]
    # Image 1: "HELLO" on Hello (text score 0.9), one on the don't-care region (dropped).
    evaluator.process(
        [{"image_id": 1, "file_name": "/data/1.jpg"}],
        [{"instances": make_instances(40, 60, polygons1, ["HELLO", "x"], [0.9, 0.9])}],
    )
    # Image 2: "World" on World with a low text score (0.3), a false positive, "abc" missed.
    evaluator.process(
        [{"image_id": 2, "file_name": "/data/2.jpg"}],
        [
            {
                "instances": make_instances(
                    40, 60, [GT_IMAGES[2][0][0], rect(45, 1, 58, 4)], ["World", "zzz"], [0.3, 0.8]
                )
            }
        ],
    )
    # An image that is not in the ground truth.
    evaluator.process(
        [{"image_id": 99, "file_name": "/data/99.jpg"}],
        [{"instances": make_instances(40, 60, [rect(0, 0, 9, 9)], ["q"], [1.0])}],
    )
    with caplog.at_level(logging.WARNING):
        results = evaluator.evaluate()
    assert "1 images with 1 predictions are not in the ground truth" in caplog.text

    # Detection: kept predictions = Hello, World, FP = 3; care GT = Hello, World, abc = 3;
    # TP = 2: P = R = H = 2/3.
    # End to end (text score >= 0.5): World's prediction is removed; kept = HELLO, FP = 2;
    # TP = 1: P = 1/2, R = 1/3, H = 2 * (1/2) * (1/3) / (5/6) = 2/5.
    metrics = results["text_spotting"]
    for name, expected in [
        ("det_precision", 200 / 3),
        ("det_recall", 200 / 3),
        ("det_hmean", 200 / 3),
        ("e2e_precision", 50.0),
        ("e2e_recall", 100 / 3),
        ("e2e_hmean", 40.0),
    ]:
        assert metrics[name] == pytest.approx(expected), name

    predictions = json.loads((tmp_path / "text_predictions.json").read_text())
    assert len(predictions) == 5
    assert {"image_id", "file_name", "polygon", "box", "score", "text", "text_score"} == set(
        predictions[0]
    )
    saved = json.loads((tmp_path / "text_results.json").read_text())
    assert saved["detection"]["num_tp"] == 2 and saved["end_to_end"]["none"]["num_tp"] == 1
    assert saved["protocol"]["iou_threshold"] == 0.5 and saved["preset"] == "plain"
    assert saved["e2e_convention"].startswith("Mask TextSpotter")
    assert [im["image_id"] for im in saved["images"]] == [1, 2]
    assert saved["images"][0]["detection"]["num_pred_dropped"] == 1
    assert saved["images"][1]["end_to_end"]["none"]["num_pred"] == 1

    # Per image: image 2 end to end has its "zzz" record (#1) as the false positive, and both
    # of its words missed; World's record (#0) is below the text-score threshold.
    per_image = json.loads((tmp_path / "text_per_image.json").read_text())
    image2 = per_image[1]["details"]["end_to_end"]["none"]
    assert image2["false_positives"] == [{"pred": 1, "pred_text": "zzz"}]
    assert [m["gt_text"] for m in image2["misses"]] == ["World", "abc"]
    image1 = per_image[0]["details"]["detection"]
    assert image1["dropped"] == [1]
    assert image1["matches"] == [
        {"gt": 0, "pred": 0, "iou": pytest.approx(1.0, abs=0.15), "gt_text": "Hello",
         "pred_text": "HELLO", "correct": None}
    ]


def test_evaluator_scores_only_processed_images(dataset_name):
    # Only image 1 processed: its one care GT is found; image 2's GT are not counted.
    evaluator = TextSpottingEvaluator(dataset_name, distributed=False)
    evaluator.reset()
    evaluator.process(
        [{"image_id": 1, "file_name": "/data/1.jpg"}],
        [{"instances": make_instances(40, 60, GT_IMAGES[1][0][:1], ["hello"], [0.9])}],
    )
    metrics = evaluator.evaluate()["text_spotting"]
    assert metrics["det_recall"] == pytest.approx(100.0)
    assert metrics["e2e_hmean"] == pytest.approx(100.0)
    evaluator.reset()
    assert evaluator.evaluate() == {}


def test_evaluator_names_the_file_of_a_bad_annotation(dataset_name):
    GT_IMAGES[3] = ([[0, 0, 5, 5]], ["a"], [0])  # a 2-point polygon
    try:
        evaluator = TextSpottingEvaluator(dataset_name, distributed=False)
        evaluator.process(
            [{"image_id": 3, "file_name": "/data/3.jpg"}],
            [{"instances": make_instances(40, 60, [rect(0, 0, 9, 9)], ["q"], [1.0])}],
        )
        with pytest.raises(ValueError, match=r"/data/3\.jpg: ground-truth polygon #0"):
            evaluator.evaluate()
    finally:
        del GT_IMAGES[3]


@pytest.mark.parametrize("matching", ["official", "best"])
def test_config_chooses_the_matching_order(dataset_name, matching):
    cfg = load_config(opts=["TEST.TEXT.MATCHING", matching])
    evaluator = TextSpottingEvaluator.from_config(cfg, dataset_name)
    assert evaluator.settings()["protocol"]["matching"] == matching


@pytest.fixture
def ic15_dataset(tmp_path):
    name = "test_protocols_ic15_like"
    weak = tmp_path / "weak.txt"
    weak.write_text("\ufeffHOTEL\nPARK\nPARC\n", encoding="utf-8")  # with a BOM
    DatasetCatalog.register(name, lambda: LEXICON_GT)
    MetadataCatalog.get(name).set(thing_classes=["text"], evaluator_type="text",
                                  protocol="ic15", lexicons={"weak": str(weak)})
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_evaluator_uses_metadata_preset_and_lexicon_files(ic15_dataset, tmp_path):
    evaluator = TextSpottingEvaluator(ic15_dataset, output_dir=str(tmp_path / "out"),
                                      distributed=False)
    evaluator.process(
        [{"image_id": 1, "file_name": "/data/img_1.jpg"}],
        [{"instances": make_instances(
            40, 60, [r["polygon"] for r in LEXICON_PREDS], ["H0TEL", "PARC"], [0.9, 0.9]),
          "scale": 0.5}],
    )
    results = evaluator.evaluate()
    metrics = results["text_spotting"]
    # As in test_lexicon_modes: strong 100, weak 50; no generic lexicon: not reported.
    assert metrics["e2e_strong_hmean"] == pytest.approx(100.0)
    assert metrics["e2e_weak_hmean"] == pytest.approx(50.0)
    assert "e2e_generic_hmean" not in metrics
    assert results["cost"] == {"scale_0.5_images": 1.0}
    saved = json.loads((tmp_path / "out" / "text_results.json").read_text())
    assert saved["preset"] == "ic15" and saved["skipped_lexicon_modes"].keys() == {"generic"}
    per_image = json.loads((tmp_path / "out" / "text_per_image.json").read_text())
    assert [(im["image_id"], im["scale"]) for im in per_image] == [(1, 0.5)]
