"""Prediction records (dld_spotter.evaluation.predictions): masks to polygons, instances to
records."""
import json

import numpy as np
import pytest
from testing import arc_band, make_instances, polygon_iou, rasterize, rect

from dld_spotter.evaluation import instances_to_records, mask_to_polygon


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
