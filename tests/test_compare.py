"""Side-by-side comparison of finished evaluations, and the high/low-resolution feature
distances of Table A2."""
import json
import math
import os

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from test_text_spotter import REPO, tiny_opts

from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.evaluation.compare import comparison_table, load_run, main, scale_table
from dld_spotter.evaluation.feature_distance import feature_distances, gt_rois


def write_run(folder, e2e, histogram=None, gflops=None):
    os.makedirs(folder, exist_ok=True)
    metrics = {"det_hmean": 90.0, "e2e_hmean": e2e, "ws_hmean": e2e + 1}
    with open(os.path.join(folder, "text_results.json"), "w") as f:
        json.dump({"metrics": metrics, "scale_histogram": histogram or {}}, f)
    if gflops is not None:
        with open(os.path.join(folder, "model_metrics.json"), "w") as f:
            json.dump({"cost": {"gflops": gflops, "fps": 10.0},
                       "recognition": {"rec_accuracy": 50.0}}, f)
    return str(folder)


def test_runs_load_and_line_up(tmp_path, capsys):
    teacher = write_run(tmp_path / "t", 60.0, gflops=2.0)
    student = write_run(tmp_path / "s", 58.5, gflops=1.0,
                        histogram={"scale_0.5_images": 3.0, "scale_0.8_images": 1.0})
    rows = {"teacher": load_run(teacher), "student": load_run(student)}
    assert rows["student"]["scales"] == {0.5: 75.0, 0.8: 25.0}
    assert rows["student"]["mean_scale"] == pytest.approx(0.575)
    assert rows["teacher"]["scales"] == {} and math.isnan(rows["teacher"]["mean_scale"])
    table = comparison_table(rows).splitlines()
    assert table[2].startswith("| teacher | 90.0 | 60.0 | 61.0 | 50.0 | 2.00 | 10.00 | – |")
    assert table[3].startswith("| student | 90.0 | 58.5 | 59.5 | 50.0 | 1.00 | 10.00 | 0.57")
    assert scale_table(rows).splitlines()[2:] == ["| 0.5 | 75.0% |", "| 0.8 | 25.0% |"]
    main([f"teacher={teacher}", f"student={student}"])
    assert "Chosen input scale" in capsys.readouterr().out


def test_missing_evaluation_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="text_results.json.*--eval-only"):
        load_run(str(tmp_path))


@pytest.fixture(scope="module")
def spotter_and_loader(synth_dataset, tmp_path_factory):
    torch.set_flush_denormal(True)
    cfg = load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                      tiny_opts(synth_dataset, tmp_path_factory.mktemp("fd")))
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    loader = TextSpotterTrainer.build_test_loader(cfg, cfg.DATASETS.TEST[0])
    gt = {d["image_id"]: d for d in DatasetCatalog.get(cfg.DATASETS.TEST[0])}
    yield model, loader, gt
    torch.set_flush_denormal(False)


def test_gt_rois_are_in_network_input_coordinates(spotter_and_loader):
    _, loader, gt = spotter_and_loader
    inp = next(iter(loader))[0]
    anns = [a for a in gt[inp["image_id"]]["annotations"] if not a.get("ignore")]
    rois = gt_rois(inp, anns)
    _, h, w = inp["image"].shape
    x0, y0, bw, bh = anns[0]["bbox"]  # XYWH_ABS in the original image
    sx, sy = w / inp["width"], h / inp["height"]
    expected = torch.tensor([x0 * sx, y0 * sy, (x0 + bw) * sx, (y0 + bh) * sy])
    assert torch.allclose(rois.proposal_boxes.tensor[0], expected, atol=1e-3)
    assert rois.image_size == (h, w) and len(rois.gt_masks) == len(anns)


def test_feature_distance_is_zero_for_the_same_input_and_grows_when_downscaled(
        spotter_and_loader):
    model, loader, gt = spotter_and_loader
    same = feature_distances(model, model, loader, gt, low_scale=1.0)
    half = feature_distances(model, model, loader, gt, low_scale=0.5)
    assert same["num_words"] == half["num_words"] > 0
    assert same["roi_l2"] < 1e-5 and same["con_l2"] < 1e-5
    assert half["roi_l2"] > 0.05 and half["con_l2"] > 0.0
