"""The word-height breakdown of an evaluation (tools/height_breakdown.py): hand-worked bins, its
agreement with the evaluator's recalls, and the files it refuses."""
import argparse
import json
import os

import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from testing import load_tool, make_instances, record, rect

from dld_spotter.data import load_text_json
from dld_spotter.evaluation import TextSpottingEvaluator

tool = load_tool("height_breakdown")

# Image 1 (400 x 300): words as wide rectangles, whose text height is their height.
WORDS = [
    (rect(0, 0, 100, 10), "EXIT", 0),       # A, 10 px: read "exit" (case is ignored)
    (rect(0, 20, 100, 32), "PARK", 0),      # B, 12 px (the edge: bin [12, 16)): read "PARC"
    (rect(0, 50, 100, 70), "HOTEL", 0),     # C, 20 px: no prediction
    (rect(150, 50, 250, 70), "SALE!", 0),   # D, 20 px: read "SALE" (RRC special character)
    (rect(0, 100, 200, 140), "OPEN", 0),    # E, 40 px: read "OPEN"
    (rect(0, 150, 300, 210), "BANK", 0),    # F, 60 px: a third of it predicted (IoU 1/3)
    (rect(250, 0, 350, 8), "###", 1),       # don't-care: its prediction is dropped
]
PREDICTIONS = [
    record(1, rect(0, 0, 100, 10), "exit"),
    record(1, rect(0, 20, 100, 32), "PARC"),
    record(1, rect(150, 50, 250, 70), "SALE"),
    record(1, rect(0, 100, 200, 140), "OPEN"),
    record(1, rect(0, 150, 100, 210), "BANK"),
    record(1, rect(250, 0, 350, 8), "xx"),
]


def write_gt(path, words_by_image):
    """A ground-truth file in the project's format; images 400 x 300."""
    images = [{"id": i, "file_name": f"img_{i}.jpg", "height": 300, "width": 400}
              for i in words_by_image]
    annotations = [{"id": 100 * i + k, "image_id": i, "segmentation": [polygon], "text": text,
                    "ignore": ignore}
                   for i, words in words_by_image.items()
                   for k, (polygon, text, ignore) in enumerate(words)]
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return str(path)


def run(*argv):
    return tool.main([str(a) for a in argv])


@pytest.fixture
def hand_case(tmp_path):
    gt = write_gt(tmp_path / "gt.json", {1: WORDS})
    pred = tmp_path / "preds" / "text_predictions.json"
    pred.parent.mkdir()
    pred.write_text(json.dumps(PREDICTIONS))
    return gt, pred


def rows_of(json_file):
    return {r["bin"]: r for r in json.loads(json_file.read_text())["rows"]}


def test_hand_worked_bins(hand_case, tmp_path, capsys):
    gt, pred = hand_case
    out = tmp_path / "breakdown.json"
    assert run("--gt", gt, "--pred", pred, "--json", out) == 0
    assert "no " in capsys.readouterr().err  # no text_results.json: the defaults, said so
    rows = rows_of(out)
    expected = {  # bin: (words, det found, e2e found)
        "[0, 12)": (1, 1, 1),     # A
        "[12, 16)": (1, 1, 0),    # B: found, read wrong
        "[16, 24)": (2, 1, 1),    # C missed, D read right
        "[24, 32)": (0, 0, 0),
        "[32, 48)": (1, 1, 1),    # E
        "[48, inf)": (1, 0, 0),   # F: IoU 1/3
        "all": (6, 4, 3),
    }
    assert list(rows) == list(expected)
    for name, (words, det, e2e) in expected.items():
        row = rows[name]
        assert (row["words"], row["det_found"], row["e2e_words"], row["e2e_found"]) == (
            words, det, words, e2e), name
        if words:
            assert row["det_recall"] == pytest.approx(100 * det / words), name
            assert row["e2e_recall"] == pytest.approx(100 * e2e / words), name
        else:
            assert row["det_recall"] is None and row["e2e_recall"] is None
    assert rows["[48, inf)"]["high"] is None
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_bins_option_and_table(hand_case, tmp_path, capsys):
    gt, pred = hand_case
    out = tmp_path / "breakdown.json"
    assert run("--gt", gt, "--pred", pred.parent, "--bins", "0,16,inf", "--json", out) == 0
    rows = rows_of(out)
    # [0, 16): A, B: det 2/2, e2e 1/2. [16, inf): C, D, E, F: det 2/4, e2e 2/4.
    assert [(r["words"], r["det_recall"], r["e2e_recall"]) for r in rows.values()] == [
        (2, 100.0, 50.0), (4, 50.0, 50.0), (6, pytest.approx(400 / 6), 50.0)]
    table = capsys.readouterr().out
    assert "| height (px) | words | share | Det-R | E2E-R |" in table
    assert "| [0, 16) | 2 | 33.3 | 100.0 | 50.0 |" in table
    assert "| all | 6 | 100.0 | 66.7 | 50.0 |" in table


def test_e2e_words_column_only_where_the_tasks_count_other_words():
    same = tool.breakdown([tool.Word(10.0, True, True, True, False)], [0, 12, float("inf")])
    fewer = tool.breakdown([tool.Word(10.0, True, True, False, False)], [0, 12, float("inf")])
    assert "E2E words" not in tool.format_table(same)
    assert "E2E words" in tool.format_table(fewer)
    assert fewer[0]["e2e_words"] == 0 and fewer[0]["e2e_recall"] is None


# --- agreement with the evaluator -------------------------------------------------------------

EVAL_WORDS = {
    1: WORDS,
    2: [(rect(10, 10, 90, 24), "CAFE", 0), (rect(10, 40, 60, 49), "TAXI", 0),
        (rect(100, 100, 300, 150), "STOP", 0)],
    3: [(rect(0, 0, 50, 11), "BUS", 0)],  # processed, nothing detected
}


@pytest.fixture
def evaluated(tmp_path):
    """An evaluation by TextSpottingEvaluator (rec_score_thresh 0.5) of a registered data set:
    its name, ground-truth file, output folder and metrics."""
    name = "test_height_breakdown_set"
    gt = write_gt(tmp_path / "gt.json", EVAL_WORDS)
    DatasetCatalog.register(name, lambda: load_text_json(gt, "", check_images=False))
    MetadataCatalog.get(name).set(thing_classes=["text"], evaluator_type="text")
    out = tmp_path / "inference" / name
    try:
        evaluator = TextSpottingEvaluator(name, output_dir=str(out), distributed=False,
                                          rec_score_thresh=0.5)
        outputs = {
            1: ([r["polygon"] for r in PREDICTIONS], [r["text"] for r in PREDICTIONS],
                [0.9] * len(PREDICTIONS)),
            # CAFE read right but below the recognition threshold; TAXI right; STOP missed.
            2: ([rect(10, 10, 90, 24), rect(10, 40, 60, 49)], ["CAFE", "taxi"], [0.3, 0.9]),
            3: ([], [], []),
        }
        for image_id, (polygons, texts, scores) in outputs.items():
            evaluator.process([{"image_id": image_id, "file_name": f"img_{image_id}.jpg"}],
                              [{"instances": make_instances(300, 400, polygons, texts, scores,
                                                           with_masks=bool(polygons))}])
        metrics = evaluator.evaluate()["text_spotting"]
        yield name, gt, out, metrics
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)


def test_overall_recalls_agree_with_the_evaluator(evaluated, tmp_path):
    name, _, out, metrics = evaluated
    result = tmp_path / "breakdown.json"
    assert run("--gt", name, "--pred", out / "text_predictions.json", "--json", result) == 0
    overall = rows_of(result)["all"]
    assert overall["det_recall"] == pytest.approx(metrics["det_recall"])
    assert overall["e2e_recall"] == pytest.approx(metrics["e2e_recall"])
    # By hand: 10 care words; detection finds A B D E, CAFE, TAXI (6); end to end A D E, TAXI
    # (4: CAFE's reading is below the threshold the evaluation used).
    assert (overall["words"], overall["det_found"], overall["e2e_found"]) == (10, 6, 4)


# --- refused input ----------------------------------------------------------------------------


def test_missing_files_are_named(hand_case, tmp_path, capsys):
    gt, pred = hand_case
    assert run("--gt", gt, "--pred", tmp_path / "nowhere.json") == 2
    assert str(tmp_path / "nowhere.json") in capsys.readouterr().err
    assert run("--gt", tmp_path / "no_gt.json", "--pred", pred) == 2
    assert str(tmp_path / "no_gt.json") in capsys.readouterr().err


def test_predictions_of_another_data_set_are_refused(hand_case, tmp_path, capsys):
    gt, pred = hand_case
    pred.write_text(json.dumps([record(7, rect(0, 0, 100, 10), "EXIT")]))
    assert run("--gt", gt, "--pred", pred) == 2
    assert f"{pred}: 1 predictions are for images" in capsys.readouterr().err


def test_ground_truth_other_than_the_evaluated_one_is_refused(evaluated, tmp_path, capsys):
    name, _, out, _ = evaluated
    pred = out / "text_predictions.json"
    results_file = out / "text_results.json"
    # Same images, one word fewer: the recalls differ from the evaluation's.
    other = write_gt(tmp_path / "other.json", {**EVAL_WORDS, 3: []})
    assert run("--gt", other, "--pred", pred) == 2
    assert f"where {results_file} reports" in capsys.readouterr().err
    # A ground truth without the evaluated images.
    fewer = write_gt(tmp_path / "fewer.json", {1: WORDS, 2: EVAL_WORDS[2]})
    assert run("--gt", fewer, "--pred", pred) == 2
    assert f"{results_file} scored 1 images that" in capsys.readouterr().err
    # Another registered data set's name.
    assert run("--gt", "ic15_test", "--pred", pred) == 2
    assert f"{results_file} is the evaluation of {name}" in capsys.readouterr().err
    results_file.write_text("{")
    assert run("--gt", name, "--pred", pred) == 2
    assert f"{results_file}: not an evaluation's" in capsys.readouterr().err


def test_unknown_data_set_name_is_refused(hand_case, capsys):
    _, pred = hand_case
    assert run("--gt", "no_such_set", "--pred", pred) == 2
    assert "--gt no_such_set: neither a ground-truth file nor a registered" in \
        capsys.readouterr().err


@pytest.mark.parametrize("text", ["0,12,12,inf", "12,inf", "0,12", "0", "a,b"])
def test_bad_bins_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        tool.parse_bins(text)
