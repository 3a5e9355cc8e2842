"""Cost metrics (FLOPs, speed, scale histogram) and recognition accuracy on ground-truth boxes,
on a tiny model; the trainer's test() reports them."""
import os

import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import BoxMode
from testing import REPO, tiny_opts

from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.evaluation import (
    count_flops,
    evaluate_cost,
    gt_box_readings,
    measure_speed,
    recognition_accuracy,
    scale_histogram,
)

FAST_OPTS = ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0", "TEST.DETECTIONS_PER_IMAGE", "4",
             "MODEL.RPN.POST_NMS_TOPK_TEST", "50", "MODEL.TEXT.MAX_LENGTH", "8",
             "TEST.TEXT.FLOPS_IMAGES", "1", "TEST.TEXT.SPEED_IMAGES", "2",
             "TEST.TEXT.SPEED_WARMUP", "1"]


@pytest.fixture(scope="module")
def cfg(synth_dataset, tmp_path_factory):
    return load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                       tiny_opts(synth_dataset, tmp_path_factory.mktemp("cost"), *FAST_OPTS))


@pytest.fixture(scope="module")
def model(cfg):
    torch.manual_seed(0)
    return build_model(cfg).eval()


def image_input(height, width):
    image = torch.randint(0, 255, (3, height, width), dtype=torch.uint8)
    return {"image": image, "height": height, "width": width}


def test_flops_are_positive_and_grow_with_the_input(model):
    small, large = count_flops(model, [image_input(96, 128), image_input(192, 256)])
    assert 0 < small < large
    assert model.training is False


def test_speed_and_scale_histogram(model):
    speed = measure_speed(model, [image_input(96, 128)] * 3, warmup=1)
    assert speed["speed_images"] == 2.0
    assert speed["fps"] == pytest.approx(1.0 / speed["sec_per_image"]) and speed["fps"] > 0
    assert scale_histogram([0.5, 0.3, 0.5, 0.8, 0.5]) == {
        "scale_0.3_images": 1.0, "scale_0.5_images": 3.0, "scale_0.8_images": 1.0,
    }
    assert list(scale_histogram([1.0, 0.25])) == ["scale_0.25_images", "scale_1_images"]
    # Speed only: 0 FLOPs images skips the count.
    cost = evaluate_cost(model, [[image_input(96, 128)]] * 4, num_flops_images=0,
                         num_speed_images=2, warmup=1)
    assert "gflops" not in cost and cost["speed_images"] == 2.0


class Untraceable(torch.nn.Module):
    """A model that runs but cannot be traced."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, inputs):
        if torch.jit.is_tracing():
            raise TypeError("type Tensor doesn't define __round__ method")
        return [{"out": x["image"].float().mean() * self.weight} for x in inputs]


def test_untraceable_model_loses_flops_not_the_evaluation(caplog):
    import logging

    with caplog.at_level(logging.WARNING):
        cost = evaluate_cost(Untraceable(), [[image_input(8, 8)]] * 2, num_flops_images=1,
                             num_speed_images=1, warmup=1)
    assert "gflops" not in cost and cost["speed_images"] == 1.0
    assert "FLOPs not counted: tracing Untraceable failed" in caplog.text


def test_recognition_accuracy_on_gt_boxes(cfg, model, monkeypatch):
    name = cfg.DATASETS.TEST[0]
    loader = TextSpotterTrainer.build_test_loader(cfg, name)
    dicts = {d["image_id"]: d for d in DatasetCatalog.get(name)}
    care = [a for d in dicts.values() for a in d["annotations"] if not a["ignore"]]
    assert care

    # Record the boxes the RoI heads are given, and the texts they decode.
    given, decoded = [], []
    heads = model.roi_heads
    forward = heads.forward_with_given_boxes

    def spy(features, instances):
        given.extend(x.pred_boxes.tensor.clone() for x in instances)
        out = forward(features, instances)
        decoded.extend(str(t) for x in out for t in x.pred_texts)
        return out

    monkeypatch.setattr(heads, "forward_with_given_boxes", spy)
    result = recognition_accuracy(model, loader, dicts)
    # The boxes are the care ground truths' scaled to the network input (shorter side 160).
    inputs = [x for batch in loader for x in batch]
    for inp, boxes in zip(inputs, given):
        anns = [a for a in dicts[inp["image_id"]]["annotations"] if not a["ignore"]]
        scale = inp["image"].shape[1] / inp["height"]
        expected = torch.tensor([BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS)
                                 for a in anns]) * scale
        assert torch.allclose(boxes, expected, rtol=0.02, atol=0.5)
    # The accuracy is the share of decoded texts equal to their ground truth, ignoring case.
    gt_texts = [a["text"] for inp in inputs for a in dicts[inp["image_id"]]["annotations"]
                if not a["ignore"]]
    assert len(decoded) == len(gt_texts) == result["rec_total"]
    correct = sum(p.lower() == g.lower() for p, g in zip(decoded, gt_texts))
    assert result["rec_correct"] == correct
    assert result["rec_accuracy"] == pytest.approx(100.0 * correct / len(gt_texts))

    # With readings forced to the ground truth in another case (every other one wrong), the
    # accuracy is exactly the share kept.
    texts = iter([g.swapcase() if k % 2 == 0 else g + "x" for k, g in enumerate(gt_texts)])
    monkeypatch.setattr(heads.charset, "decode_batch",
                        lambda ids: [next(texts) for _ in range(len(ids))])
    pairs = gt_box_readings(model, loader, dicts)
    assert [p for _, p in pairs][:2] == [gt_texts[0].swapcase(), gt_texts[1] + "x"]
    monkeypatch.setattr(heads, "forward_with_given_boxes", forward)
    texts = iter([g.swapcase() if k % 2 == 0 else g + "x" for k, g in enumerate(gt_texts)])
    forced = recognition_accuracy(model, loader, dicts)
    assert forced["rec_accuracy"] == pytest.approx(100.0 * ((len(gt_texts) + 1) // 2)
                                                   / len(gt_texts))


def test_trainer_test_reports_cost_and_recognition(cfg, model, caplog):
    import logging

    with caplog.at_level(logging.INFO):
        results = TextSpotterTrainer.test(cfg, model)
    assert results["cost"]["gflops"] > 0 and results["cost"]["flops_images"] == 1.0
    assert results["cost"]["fps"] > 0 and results["cost"]["speed_images"] == 2.0
    assert 0.0 <= results["recognition"]["rec_accuracy"] <= 100.0
    assert "e2e_hmean" in results["text_spotting"] and "ws_hmean" in results["text_spotting"]
    assert "GFLOPs" in caplog.text and "Rec" in caplog.text
    out = os.path.join(cfg.OUTPUT_DIR, "inference", cfg.DATASETS.TEST[0])
    assert os.path.isfile(os.path.join(out, "model_metrics.json"))
    assert os.path.isfile(os.path.join(out, "text_per_image.json"))
