"""The synthetic scene-text generator: fonts, geometry, determinism and files."""
import json
import os

import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Polygon

from dld_spotter.data import synth
from dld_spotter.data.synth import (
    ARC_POINTS_PER_SIDE,
    VOCABULARY,
    ArcWarp,
    HomographyWarp,
    SynthConfig,
    find_fonts,
    generate_dataset,
    generate_image,
    render_text,
    warp_patch,
)

SMALL = SynthConfig(height=128, width=160)


@pytest.fixture(scope="module")
def fonts():
    return find_fonts()


def test_fonts_render_latin_text(fonts):
    assert len(fonts) >= 10
    names = [os.path.basename(f) for f in fonts]
    assert not any(n.startswith(("cmex", "cmsy", "STIXSiz", "STIXNonUni")) for n in names)
    assert any(n.startswith("DejaVuSans") for n in names)
    assert any("Roboto" in n for n in names) and any("Caladea" in n for n in names)
    for font in fonts:
        mask, (x0, y0, x1, y1) = render_text("Agy", font, 30)
        assert 26 <= y1 - y0 <= 34, font  # the ink is as tall as asked
        assert x1 - x0 > 30, font


def test_missing_fonts_say_how_to_install(monkeypatch):
    monkeypatch.setattr(synth, "_package_dir", lambda package: None)
    with pytest.raises(RuntimeError, match="scripts/setup.sh"):
        find_fonts()


def _warped_word(fonts, text, kind):
    mask, box = render_text(text, fonts[0], 40)
    h = box[3] - box[1]
    if kind == "straight":
        warp = HomographyWarp.make(box)
    elif kind == "rotated":
        warp = HomographyWarp.make(box, angle=-18.0)
    elif kind == "perspective":
        shift = np.array([[-2, -6], [3, 5], [-4, 6], [2, -5]]) * h / 40
        warp = HomographyWarp.make(box, angle=7.0, corner_shift=shift)
    else:
        warp = ArcWarp(box, span=1.8, arch=kind == "arch", angle=10.0)
    return warp_patch(mask, box, warp, text)


def _chains(polygon):
    """Top, right, bottom and left sides of a polygon, as lines."""
    n = len(polygon) // 2
    top, bottom = polygon[:n], polygon[n:]
    return [LineString(top), LineString([top[-1], bottom[0]]), LineString(bottom),
            LineString([bottom[-1], top[0]])]


@pytest.mark.parametrize("kind", ["straight", "rotated", "perspective", "arch", "smile"])
@pytest.mark.parametrize("text", ["Hello", "Jumpy", "2024"])
def test_polygon_is_tight_around_the_ink(fonts, kind, text):
    patch = _warped_word(fonts, text, kind)
    # The word drawn dark on white: ink pixels are those at least a quarter dark.
    canvas = 255.0 * (1.0 - patch.alpha)
    ys, xs = np.nonzero(canvas < 192)
    cx, cy = xs + 0.5, ys + 0.5
    poly = Polygon(patch.polygon)
    assert poly.is_valid
    inside = shapely.contains_xy(poly.buffer(0.5), cx, cy)  # half a pixel for resampling
    assert inside.mean() >= 0.999
    # Tight: every side of the polygon touches the ink, and it is not much bigger than the ink.
    ink = MultiPoint(np.stack([cx, cy], 1))
    for side in _chains(patch.polygon):
        assert side.distance(ink) <= 1.1, (kind, text)
    assert poly.area <= 1.35 * ink.convex_hull.buffer(0.5).area


@pytest.mark.parametrize("kind", ["arch", "smile"])
def test_curved_polygon_follows_the_curve(fonts, kind):
    patch = _warped_word(fonts, "curved", kind)
    assert len(patch.polygon) == 2 * ARC_POINTS_PER_SIDE >= 14
    assert Polygon(patch.polygon).exterior.is_ccw  # clockwise on screen (y points down)
    top = patch.polygon[:ARC_POINTS_PER_SIDE]
    # The middle of the top edge bulges away from the straight line joining its ends.
    bulge = LineString([top[0], top[-1]]).distance(shapely.Point(top[ARC_POINTS_PER_SIDE // 2]))
    assert bulge > 5


def test_quad_polygons_start_top_left_clockwise(fonts):
    poly = _warped_word(fonts, "Hello", "rotated").polygon
    assert len(poly) == 4 and Polygon(poly).exterior.is_ccw
    assert poly[0][0] < poly[1][0] and poly[0][1] < poly[3][1]


@pytest.fixture(scope="module")
def generated(fonts):
    """25 default-size images, generated in-process."""
    return [generate_image(np.random.default_rng([7, i]), fonts) for i in range(25)]


def _text_height(polygon):
    n = len(polygon) // 2
    return np.linalg.norm(polygon[:n] - polygon[n:][::-1], axis=1).mean()


def test_generated_set_is_varied(generated):
    heights, texts, num_curved, num_ignored = [], [], 0, 0
    for image, instances in generated:
        h, w = image.shape[:2]
        assert 0.8 * 480 <= h <= 1.2 * 480 and 0.8 * 640 <= w <= 1.2 * 640
        assert 1 <= len(instances) <= SynthConfig.max_words
        polys = [Polygon(i["polygon"]) for i in instances]
        for i, poly in enumerate(polys):
            x0, y0, x1, y1 = poly.bounds
            assert x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h
            assert all(not poly.intersects(other) for other in polys[i + 1:])
        for inst in instances:
            if inst["ignore"]:
                num_ignored += 1
                assert inst["text"] == "###"
                continue
            heights.append(_text_height(inst["polygon"]))
            texts.append(inst["text"])
            num_curved += len(inst["polygon"]) > 4
    assert max(heights) / min(heights) >= 8
    assert min(heights) >= 0.75 * SynthConfig.min_text_height  # perspective shortens sides
    assert num_curved >= 1 and num_ignored >= 1
    assert any(t.isupper() for t in texts) and any(t.islower() for t in texts)
    assert any(t.istitle() and len(t) > 1 for t in texts)
    assert any(any(c.isdigit() for c in t) for t in texts)
    assert all(2 <= len(t) <= 12 for t in texts if t.isalpha())
    vocabulary = {w.casefold() for w in VOCABULARY}
    in_vocabulary = sum(t.casefold() in vocabulary for t in texts) / len(texts)
    assert 0.25 < in_vocabulary < 0.75  # random strings: no reading by a language model


def test_images_have_small_large_or_mixed_text(generated):
    """The resolution selector needs images whose words are all small (they need the full
    resolution), all large (legible at 0.3x) and mixed."""
    spans = []
    for _, instances in generated:
        heights = [_text_height(i["polygon"]) for i in instances if not i["ignore"]]
        if heights:
            spans.append((min(heights), max(heights)))
    assert any(hi < 40 for _, hi in spans), spans  # small text only
    assert any(lo > 40 for lo, _ in spans), spans  # large text only
    assert any(hi / lo >= 4 for lo, hi in spans), spans  # both in one image


def test_text_contrasts_with_its_surroundings(generated):
    """Inside a word's polygon the image must vary: the ink stands out from the background."""
    for image, instances in generated[:8]:
        luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        for inst in instances:
            if inst["ignore"] or _text_height(inst["polygon"]) < 16:
                continue
            poly = Polygon(inst["polygon"]).buffer(-1)
            x0, y0, x1, y1 = (int(v) for v in poly.bounds)
            ys, xs = np.mgrid[y0:y1, x0:x1]
            values = luma[ys, xs][shapely.contains_xy(poly, xs + 0.5, ys + 0.5)]
            assert np.percentile(values, 95) - np.percentile(values, 5) > 50, inst["text"]


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                out[os.path.relpath(os.path.join(dirpath, name), root)] = f.read()
    return out


def test_same_seed_gives_identical_files(tmp_path):
    generate_dataset(str(tmp_path / "a"), 3, 2, seed=5, cfg=SMALL, workers=1)
    generate_dataset(str(tmp_path / "b"), 3, 2, seed=5, cfg=SMALL, workers=2)
    generate_dataset(str(tmp_path / "c"), 3, 2, seed=6, cfg=SMALL, workers=1)
    a, b, c = (_files(tmp_path / d) for d in "abc")
    assert sorted(a) == ["params.json", "train.json", "train/000000.jpg", "train/000001.jpg",
                         "train/000002.jpg", "val.json", "val/000000.jpg", "val/000001.jpg"]
    assert a == b
    assert a["train.json"] != c["train.json"]


def test_cli_writes_the_format_and_skips_when_up_to_date(tmp_path, caplog):
    out = str(tmp_path / "synth")
    args = ["--out", out, "--num-train", "2", "--num-val", "1", "--height", "96",
            "--width", "128", "--workers", "1"]
    synth.main(args)
    with open(os.path.join(out, "train.json")) as f:
        data = json.load(f)
    assert [img["id"] for img in data["images"]] == [1, 2]
    assert data["categories"] == [{"id": 1, "name": "text"}]
    ann = data["annotations"][0]
    assert ann["id"] == 1 and ann["category_id"] == 1 and ann["iscrowd"] == 0
    assert len(ann["segmentation"]) == 1 and len(ann["segmentation"][0]) >= 8
    for img in data["images"]:
        assert os.path.isfile(os.path.join(out, "train", img["file_name"]))
    with open(os.path.join(out, "params.json")) as f:
        assert json.load(f)["config"]["height"] == 96

    mtime = os.path.getmtime(os.path.join(out, "train.json"))
    with caplog.at_level("INFO", logger="dld_spotter.data.synth"):
        synth.main(args)
    assert "not regenerating" in caplog.text
    assert os.path.getmtime(os.path.join(out, "train.json")) == mtime
    assert generate_dataset(out, 2, 2, cfg=SynthConfig(height=96, width=128), workers=1)
