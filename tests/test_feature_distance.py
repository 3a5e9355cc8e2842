"""The high/low-resolution feature distances of Table A2
(dld_spotter.evaluation.feature_distance)."""
import os

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from testing import REPO, tiny_opts

from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.evaluation.feature_distance import feature_distances, gt_rois


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
