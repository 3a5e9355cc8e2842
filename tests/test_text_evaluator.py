"""Tests of dld_spotter.evaluation: scoring rules worked out by hand, records, the evaluator."""
import json
import logging

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.structures import Boxes, BoxMode, Instances

from dld_spotter.config import load_config
from dld_spotter.evaluation import (
    Protocol,
    TextSpottingEvaluator,
    accumulate,
    evaluate_image,
    instances_to_records,
    mask_to_polygon,
    to_geometry,
)


def rect(x1, y1, x2, y2):
    """Axis-aligned rectangle as a clockwise flat polygon."""
    return [x1, y1, x2, y1, x2, y2, x1, y2]


def polygon_iou(a, b):
    """Intersection over union of two polygons (0 when both have zero area)."""
    a, b = to_geometry(a), to_geometry(b)
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def polygon_intersection_over_area(a, b):
    """Area of ``a`` ∩ ``b`` divided by the area of ``a`` (0 when ``a`` has zero area)."""
    a, b = to_geometry(a), to_geometry(b)
    return a.intersection(b).area / a.area if a.area > 0 else 0.0


def score(gts, preds, protocol=None, end_to_end=False):
    """Evaluate one image; ``gts`` = [(polygon, text, ignore)], ``preds`` = [(polygon, text)]."""
    result = evaluate_image(
        [g[0] for g in gts],
        [g[1] for g in gts],
        [g[2] for g in gts],
        [p[0] for p in preds],
        [p[1] for p in preds],
        [1.0] * len(preds),
        protocol or Protocol(),
        end_to_end=end_to_end,
    )
    return result, accumulate([result])


def assert_prh(metrics, precision, recall, hmean):
    assert metrics["precision"] == pytest.approx(precision)
    assert metrics["recall"] == pytest.approx(recall)
    assert metrics["hmean"] == pytest.approx(hmean)


# --- geometry ---------------------------------------------------------------------------------


def test_polygon_iou_and_intersection_over_area():
    # [0,10]^2 vs [5,15]x[0,10]: intersection 50, union 150.
    assert polygon_iou(rect(0, 0, 10, 10), rect(5, 0, 15, 10)) == pytest.approx(1 / 3)
    # A 5x10 rectangle, 2/5 of it inside the square: 20 / 50.
    a, b = rect(8, 0, 13, 10), rect(0, 0, 10, 10)
    assert polygon_intersection_over_area(a, b) == pytest.approx(0.4)
    assert polygon_iou(rect(0, 0, 1, 1), rect(5, 5, 6, 6)) == 0.0


def test_self_intersecting_polygon_is_repaired():
    # A bow tie over [0,10]^2: two triangles of area 25 each; IoU with the square = 50 / 100.
    bow_tie = [0, 0, 10, 10, 10, 0, 0, 10]
    assert polygon_iou(bow_tie, rect(0, 0, 10, 10)) == pytest.approx(0.5)
    result, _ = score([(bow_tie, "a", 0)], [(rect(0, 0, 10, 10), "a")])
    assert result.num_tp == 0 and result.num_pred == 1  # IoU 0.5 is not > 0.5


def test_polygon_with_fewer_than_3_points_is_reported():
    with pytest.raises(ValueError, match="predicted polygon #1"):
        score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 10, 10), "a"), ([0, 0, 5, 5], "a")])
    with pytest.raises(ValueError, match="ground-truth polygon #0"):
        score([([0, 0, 5, 5, 6], "a", 0)], [])


# --- detection --------------------------------------------------------------------------------


def test_perfect_match():
    # 2 GT, 2 identical predictions: TP = 2, P = 2/2, R = 2/2, H = 1.
    gts = [(rect(0, 0, 10, 10), "ab", 0), (rect(20, 0, 40, 10), "cd", 0)]
    preds = [(rect(20, 0, 40, 10), "cd"), (rect(0, 0, 10, 10), "ab")]
    for end_to_end in (False, True):
        result, metrics = score(gts, preds, end_to_end=end_to_end)
        assert_prh(metrics, 1.0, 1.0, 1.0)
        assert sorted((m.gt_index, m.pred_index) for m in result.matches) == [(0, 1), (1, 0)]


@pytest.mark.parametrize(
    "width, matched",
    # GT [0,10]^2 (area 100); prediction [0,w]x[0,10] inside it: IoU = 10w / 100.
    [(4.9, False), (5.0, False), (5.1, True)],  # IoU 0.49, 0.50 (not > 0.5), 0.51
)
def test_iou_threshold_is_strict(width, matched):
    _, metrics = score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, width, 10), "a")])
    # matched: P = R = H = 1/1; else 1 FP and 1 miss: P = 0/1, R = 0/1, H = 0.
    expected = 1.0 if matched else 0.0
    assert_prh(metrics, expected, expected, expected)


def test_iou_threshold_is_a_setting():
    # IoU 0.3 matches under an IoU-0.1 protocol.
    gts, preds = [(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 3, 10), "a")]
    assert score(gts, preds)[1]["hmean"] == 0.0
    assert score(gts, preds, Protocol(iou_threshold=0.1))[1]["hmean"] == 1.0


def test_duplicate_predictions_give_one_tp_one_fp():
    # 1 GT, 2 predictions on it: TP = 1, P = 1/2, R = 1/1, H = 2 * 0.5 * 1 / 1.5 = 2/3.
    gts = [(rect(0, 0, 10, 10), "a", 0)]
    result, metrics = score(gts, [(rect(0, 0, 10, 10), "a"), (rect(0, 0, 10, 9), "a")])
    assert_prh(metrics, 0.5, 1.0, 2 / 3)
    assert result.num_pred == 2 and result.num_tp == 1


@pytest.mark.parametrize("matching, matched", [("official", 0), ("best", 1)])
def test_matching_order(matching, matched):
    # Predictions with IoU 0.6 (index 0) and 0.9 (index 1) on one GT: the official order takes
    # the first prediction over the threshold, "best" the highest IoU.
    result, _ = score(
        [(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 6, 10), "a"), (rect(0, 0, 9, 10), "a")],
        Protocol(matching=matching),
    )
    iou = {0: 0.6, 1: 0.9}[matched]
    assert [(m.pred_index, m.iou) for m in result.matches] == [(matched, pytest.approx(iou))]


def test_unknown_matching_order_is_an_error():
    with pytest.raises(ValueError, match="unknown matching 'iou'"):
        Protocol(matching="iou")


@pytest.mark.parametrize("text, ignore", [("###", 0), ("word", 1)])
def test_prediction_on_dont_care_gt_is_dropped(text, ignore):
    # Care GT A + don't-care GT B, one prediction on each: B's prediction is dropped.
    # TP = 1, kept predictions = 1, care GT = 1: P = R = H = 1.
    gts = [(rect(0, 0, 10, 10), "a", 0), (rect(20, 0, 30, 10), text, ignore)]
    result, metrics = score(gts, [(rect(0, 0, 10, 10), "a"), (rect(20, 0, 30, 10), "b")])
    assert_prh(metrics, 1.0, 1.0, 1.0)
    assert result.dropped == [1] and result.num_gt_care == 1 and result.num_gt_dont_care == 1


@pytest.mark.parametrize(
    "x1, dropped",
    # Don't-care [0,10]^2; prediction [x1, x1+10]x[0,10] has (10 - x1)/10 of its area inside it
    # and IoU (10 - x1) / (10 + x1) < 0.5 for these x1, so only the area rule can drop it.
    [(4, True), (5, False), (6, False)],  # inside 0.6 (> 0.5), 0.5 (not > 0.5), 0.4
)
def test_prediction_half_inside_dont_care_region(x1, dropped):
    gts = [(rect(0, 0, 10, 10), "###", 1), (rect(50, 0, 60, 10), "a", 0)]
    preds = [(rect(50, 0, 60, 10), "a"), (rect(x1, 0, x1 + 10, 10), "b")]
    result, metrics = score(gts, preds)
    # dropped: P = 1/1, R = 1/1, H = 1; kept: P = 1/2, R = 1/1, H = 2/3.
    if dropped:
        assert_prh(metrics, 1.0, 1.0, 1.0)
        assert result.dropped == [1]
    else:
        assert_prh(metrics, 0.5, 1.0, 2 / 3)
        assert result.dropped == []


def test_dont_care_regions_are_tested_one_by_one():
    # Prediction [0,20]x[0,10] (area 200) over two don't-care regions of 60 of it each (0.3):
    # 0.6 inside their union, but no single region holds more than half: kept, a false
    # positive (TP = 0, 1 kept prediction, 0 care GT). Also kept at 0.15 + 0.45 (union 0.6);
    # dropped at 0.55 inside one region.
    gts = [(rect(-10, 0, 6, 10), "###", 1), (rect(14, 0, 30, 10), "###", 1)]
    result, metrics = score(gts, [(rect(0, 0, 20, 10), "a")])
    assert result.dropped == [] and (metrics["num_tp"], metrics["num_pred"]) == (0, 1)
    result, metrics = score(gts, [(rect(3, 0, 23, 10), "a")])  # 3/20 and 9/20 = 0.45
    assert result.dropped == []
    result, metrics = score(gts, [(rect(19, 0, 39, 10), "a")])  # 11/20 in the second
    assert result.dropped == [0] and metrics["num_pred"] == 0


def test_curved_polygons_use_polygon_not_box_iou():
    # U shape, 8 points: [0,30]^2 minus the notch [10,20]x[10,30]; area 900 - 200 = 700.
    u_shape = [0, 0, 30, 0, 30, 30, 20, 30, 20, 10, 10, 10, 10, 30, 0, 30]
    gts = [(u_shape, "u", 0)]
    # Its bounding box: IoU 700 / 900 = 0.78 -> match; P = R = H = 1.
    assert_prh(score(gts, [(rect(0, 0, 30, 30), "u")])[1], 1.0, 1.0, 1.0)
    # [5,25]x[0,30] (area 600): box IoU 600/900 = 0.67 but polygon intersection
    # 200 (bar) + 100 + 100 (arms) = 400, IoU = 400 / (700 + 600 - 400) = 0.44 -> no match.
    assert polygon_iou(u_shape, rect(5, 0, 25, 30)) == pytest.approx(4 / 9)
    assert_prh(score(gts, [(rect(5, 0, 25, 30), "u")])[1], 0.0, 0.0, 0.0)


def arc_band(degrees_end, points=7, radius=10.0, center=(50.0, 50.0)):
    """Polygon of a ring sector (radii ``radius`` and ``2 * radius``, angles 0..degrees_end),
    2 x ``points`` points, as for curved text."""
    angles = np.radians(np.linspace(0.0, degrees_end, points))
    ring = np.stack([np.cos(angles), -np.sin(angles)], axis=1)
    outer = np.asarray(center) + 2 * radius * ring
    inner = (np.asarray(center) + radius * ring)[::-1]
    return np.concatenate([outer, inner]).ravel().tolist()


def test_curved_14_point_polygons():
    gt = arc_band(180)  # 6 equal trapezoids, angles 0..180 in steps of 30
    assert len(gt) == 28
    # The first 4 trapezoids (0..120) are 4/6 of the band: IoU 2/3 -> match.
    # The first 2 (0..60) are 2/6 of it: IoU 1/3 -> no match.
    assert polygon_iou(gt, arc_band(120, points=5)) == pytest.approx(2 / 3)
    assert score([(gt, "arc", 0)], [(arc_band(120, points=5), "ARC")], end_to_end=True)[1][
        "hmean"
    ] == pytest.approx(1.0)
    assert score([(gt, "arc", 0)], [(arc_band(60, points=3), "arc")])[1]["hmean"] == 0.0


# --- end to end -------------------------------------------------------------------------------


def test_transcription_is_case_insensitive_by_default():
    gts, preds = [(rect(0, 0, 10, 10), "Hello", 0)], [(rect(0, 0, 10, 10), "hELLO")]
    assert_prh(score(gts, preds, end_to_end=True)[1], 1.0, 1.0, 1.0)
    # Case-sensitive: the match has a wrong text: 1 FP and 1 miss, P = R = H = 0.
    result, metrics = score(gts, preds, Protocol(case_sensitive=True), end_to_end=True)
    assert_prh(metrics, 0.0, 0.0, 0.0)
    assert [m.text_correct for m in result.matches] == [False]
    # A wrong text still counts for detection.
    assert_prh(score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 10, 10), "b")])[1], 1, 1, 1)


def test_best_matching_prefers_pairs_with_the_right_text():
    # GT "abc" [0,10]^2; prediction 0 = the exact box reading "abd" (IoU 1.0), prediction 1 =
    # [0,10]x[0,9] reading "abc" (IoU 0.9).
    gts = [(rect(0, 0, 10, 10), "abc", 0)]
    preds = [(rect(0, 0, 10, 10), "abd"), (rect(0, 0, 10, 9), "abc")]
    # "best": prediction 1 is matched: TP = 1, 2 predictions: P = 1/2, R = 1/1, H = 2/3.
    best = Protocol(matching="best")
    result, metrics = score(gts, preds, best, end_to_end=True)
    assert_prh(metrics, 0.5, 1.0, 2 / 3)
    assert [(m.pred_index, m.text_correct) for m in result.matches] == [(1, True)]
    # Detection keeps the highest-IoU pair.
    assert [m.pred_index for m in score(gts, preds, best)[0].matches] == [0]
    # Official: the first prediction takes the GT with its wrong text: TP = 0, P = R = H = 0.
    result, metrics = score(gts, preds, end_to_end=True)
    assert_prh(metrics, 0.0, 0.0, 0.0)
    assert [(m.pred_index, m.text_correct) for m in result.matches] == [(0, False)]


def test_accumulate_sums_counts_over_images():
    # Image 1: 1 GT, 1 TP. Image 2: 2 GT, 1 FP. Image 3: no GT, 1 FP. Image 4: empty.
    # TP = 1, P = 1/3, R = 1/3, H = 1/3.
    r1, _ = score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 10, 10), "a")])
    r2, _ = score(
        [(rect(0, 0, 10, 10), "a", 0), (rect(20, 0, 30, 10), "b", 0)],
        [(rect(50, 50, 60, 60), "c")],
    )
    r3, _ = score([], [(rect(0, 0, 10, 10), "a")], end_to_end=True)
    r4, _ = score([], [], end_to_end=True)
    metrics = accumulate([r1, r2, r3, r4])
    assert_prh(metrics, 1 / 3, 1 / 3, 1 / 3)
    assert (metrics["num_tp"], metrics["num_pred"], metrics["num_gt"]) == (1, 3, 3)


# --- records ------------------------------------------------------------------------------------


def rasterize(polygon, height, width):
    """(H, W) bool mask of the pixels whose centre (j + 0.5, i + 0.5) is inside ``polygon``."""
    mask = np.zeros((height, width), dtype=np.uint8)
    points = np.round((np.asarray(polygon).reshape(-1, 2) - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(mask, [points], 1, shift=4)
    return mask.astype(bool)


def test_mask_to_polygon_round_trip():
    for polygon in (
        [20, 30, 150, 10, 160, 60, 30, 80],  # rotated quadrilateral
        arc_band(180, radius=25, center=(100, 60)),  # curved, 14 points
    ):
        recovered = mask_to_polygon(rasterize(polygon, 120, 200))
        assert len(recovered) >= 8
        assert polygon_iou(polygon, recovered) > 0.9
    assert mask_to_polygon(np.zeros((10, 10), dtype=bool)) is None


def test_mask_to_polygon_keeps_largest_region():
    mask = rasterize(rect(2, 2, 6, 6), 50, 50) | rasterize(rect(10, 10, 40, 30), 50, 50)
    xs = mask_to_polygon(mask)[0::2]
    assert min(xs) >= 10


def bbox_xywh(polygon):
    xs, ys = polygon[0::2], polygon[1::2]
    return [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]


def make_instances(height, width, polygons, texts, text_scores, with_masks=True):
    n = len(polygons)
    instances = Instances((height, width))
    boxes = [BoxMode.convert(bbox_xywh(p), BoxMode.XYWH_ABS, BoxMode.XYXY_ABS) for p in polygons]
    instances.pred_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).reshape(n, 4))
    instances.scores = torch.linspace(0.9, 0.5, n)
    instances.pred_classes = torch.zeros(n, dtype=torch.long)
    if with_masks:
        masks = [rasterize(p, height, width) for p in polygons]
        instances.pred_masks = torch.from_numpy(np.stack(masks).reshape(n, height, width))
    instances.pred_texts = list(texts)
    instances.text_scores = torch.tensor(text_scores, dtype=torch.float32)
    return instances


def test_instances_to_records():
    instances = make_instances(
        40, 60, [rect(5, 5, 25, 15), rect(30, 5, 50, 15)], ["ab", "cd"], [0.7, 0.2]
    )
    instances.pred_masks[1] = False  # empty mask -> the box's corners
    records = instances_to_records(instances, image_id=3, file_name="x.jpg")
    assert [r["text"] for r in records] == ["ab", "cd"]
    assert records[0]["text_score"] == pytest.approx(0.7)
    assert records[0]["score"] == pytest.approx(0.9)
    assert records[0]["box"] == [5.0, 5.0, 25.0, 15.0]
    assert polygon_iou(records[0]["polygon"], rect(5, 5, 25, 15)) > 0.8
    assert records[1]["polygon"] == rect(30.0, 5.0, 50.0, 15.0)
    assert {r["image_id"] for r in records} == {3} and records[0]["file_name"] == "x.jpg"
    json.dumps(records)  # plain JSON types

    bare = make_instances(40, 60, [rect(5, 5, 25, 15)], ["ab"], [0.7], with_masks=False)
    assert instances_to_records(bare)[0]["polygon"] == rect(5.0, 5.0, 25.0, 15.0)


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
