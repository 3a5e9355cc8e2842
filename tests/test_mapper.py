"""Training augmentations and TextDatasetMapper: polygons follow the pixels, words are never cut."""
import logging

import cv2
import numpy as np
import pytest
import torch
from detectron2.config import get_cfg
from detectron2.data import transforms as T
from detectron2.structures import BoxMode

from dld_spotter.charset import build_charset
from dld_spotter.config import add_text_spotter_config
from dld_spotter.data.mapper import TextDatasetMapper
from dld_spotter.data.transforms import (
    ColorJitter,
    InstanceAwareCrop,
    RandomShortestEdgeScale,
    build_photometric_aids,
    build_text_train_augmentation,
)

H, W = 400, 600
# Well-separated words: axis-aligned quads, a tilted quad, a curved 14-point polygon.
WORDS = [
    ("Hello", 0, [40, 40, 200, 40, 200, 100, 40, 100]),
    ("###", 1, [300, 30, 560, 60, 552, 124, 292, 94]),
    ("world", 0, [40, 170, 250, 150, 262, 220, 52, 240]),
    ("café", 0, [360, 180, 560, 180, 560, 250, 360, 250]),
    ("curved", 0, [60, 300, 110, 285, 160, 278, 210, 278, 260, 285, 310, 300, 360, 320,
                   360, 380, 310, 360, 260, 345, 210, 338, 160, 338, 110, 345, 60, 360]),
]


def _cfg(**aug):
    cfg = get_cfg()
    add_text_spotter_config(cfg)
    cfg.INPUT.MIN_SIZE_TRAIN = (H,)
    cfg.INPUT.MAX_SIZE_TRAIN = 2 * W
    cfg.INPUT.MIN_SIZE_TEST = 200
    cfg.INPUT.MAX_SIZE_TEST = 1000
    for k, v in aug.items():
        setattr(cfg.INPUT.TEXT_AUG, k, v)
    return cfg


def _raster(polys, h, w):
    """Binary mask of polygons in continuous coordinates (pixel i covers [i, i + 1])."""
    mask = np.zeros((h, w), np.uint8)
    pts = [np.round((np.asarray(p).reshape(-1, 2) - 0.5) * 16).astype(np.int32) for p in polys]
    cv2.fillPoly(mask, pts, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.fixture
def scene(tmp_path):
    """A black image with white filled words, saved as PNG, and its dataset dict."""
    image = np.repeat(_raster([w[2] for w in WORDS], H, W)[..., None] * 255, 3, axis=2)
    path = tmp_path / "scene.png"
    cv2.imwrite(str(path), image.astype(np.uint8))
    annos = []
    for i, (text, ignore, seg) in enumerate(WORDS):
        pts = np.asarray(seg, float).reshape(-1, 2)
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        annos.append({
            "id": i, "bbox": [x0, y0, x1 - x0, y1 - y0], "bbox_mode": BoxMode.XYWH_ABS,
            "segmentation": [seg], "category_id": 0, "text": text, "ignore": ignore,
            "iscrowd": 0,
        })
    return {"file_name": str(path), "height": H, "width": W, "image_id": 0, "annotations": annos}


@pytest.mark.parametrize("seed", range(6))
def test_polygons_follow_pixels_through_full_chain(scene, seed):
    np.random.seed(seed)
    cfg = _cfg(CROP_PROB=1.0, ROTATE_PROB=1.0, COLOR_PROB=1.0)
    out = TextDatasetMapper(cfg, is_train=True)(scene)
    image = out["image"].numpy().transpose(1, 2, 0).astype(np.float32).mean(2)
    white = image > (image.min() + image.max()) / 2
    inst = out["instances"]
    h, w = inst.image_size
    assert image.shape == (h, w) and len(inst) >= 1
    masks = [_raster(p, h, w) for p in inst.gt_masks.polygons]
    # Every white pixel belongs to a kept word (dropped words were fully outside the crop) ...
    assert _iou(np.any(masks, axis=0), white) > 0.9
    # ... and each word's polygon coincides with its own white pixels.
    for mask, (x0, y0, x1, y1) in zip(masks, inst.gt_boxes.tensor.round().int().tolist()):
        region = np.zeros_like(white)
        region[max(y0 - 2, 0): y1 + 2, max(x0 - 2, 0): x1 + 2] = True
        assert _iou(mask, white & region) > 0.9


def test_rotation_keeps_words_and_gt_boxes_are_polygon_bounds(scene):
    np.random.seed(0)
    cfg = _cfg(CROP_PROB=0.0, ROTATE_PROB=1.0, ROTATE_ANGLE=15.0)
    mapper = TextDatasetMapper(cfg, is_train=True)
    for _ in range(5):
        inst = mapper(scene)["instances"]
        h, w = inst.image_size
        for box, polys in zip(inst.gt_boxes.tensor.numpy(), inst.gt_masks.polygons):
            pts = np.concatenate(polys).reshape(-1, 2)
            expected = np.clip(np.r_[pts.min(0), pts.max(0)], 0, [w, h, w, h])
            np.testing.assert_allclose(box, expected, atol=1e-3)
            # The canvas grows with the rotation: no word leaves the image.
            assert pts.min() >= -1e-6 and np.all(pts.max(0) <= [w + 1e-6, h + 1e-6])
        assert len(inst) == len(WORDS)
    assert mapper.counts["images"] == 5 and mapper.counts["instances"] == 5 * len(WORDS)


def test_crop_never_cuts_a_word():
    rng = np.random.RandomState(0)
    np.random.seed(0)
    crop = InstanceAwareCrop(prob=1.0, min_ratio=0.4)
    image = np.zeros((300, 500, 3), np.uint8)
    num_cropped = 0
    for _ in range(300):
        xy = rng.uniform(0, [500, 300], size=(rng.randint(1, 12), 2))
        boxes = np.c_[xy, xy + rng.uniform(5, 120, size=xy.shape)]
        tfm = crop.get_transform(image, boxes)
        if not hasattr(tfm, "x0"):
            continue
        num_cropped += 1
        x0, y0, x1, y1 = tfm.x0, tfm.y0, tfm.x0 + tfm.w, tfm.y0 + tfm.h
        assert tfm.w >= 0.4 * 500 and tfm.h >= 0.4 * 300
        clipped = np.clip(boxes, 0, [500, 300, 500, 300])
        inside = ((clipped[:, 0] >= x0) & (clipped[:, 2] <= x1)
                  & (clipped[:, 1] >= y0) & (clipped[:, 3] <= y1))
        outside = ((clipped[:, 2] <= x0) | (clipped[:, 0] >= x1)
                   | (clipped[:, 3] <= y0) | (clipped[:, 1] >= y1))
        assert inside.any()
        assert np.all(inside | outside), "a crop border cuts a word"
    assert num_cropped > 200


def test_mapper_crop_keeps_whole_words_only(scene):
    np.random.seed(1)
    cfg = _cfg(CROP_PROB=1.0, CROP_MIN_RATIO=0.3, ROTATE_PROB=0.0, SCALE_RANGE=(1.0, 1.0))
    mapper = TextDatasetMapper(cfg, is_train=True)
    sizes = set()
    for _ in range(20):
        inst = mapper(scene)["instances"]
        h, w = inst.image_size
        sizes.add(len(inst))
        for polys in inst.gt_masks.polygons:
            pts = np.concatenate(polys).reshape(-1, 2)
            assert pts.min() >= -1e-6 and np.all(pts.max(0) <= [w + 1e-6, h + 1e-6])
    assert mapper.counts["dropped"] > 0 and len(sizes) > 1  # some crops did drop words


def test_scale_draws_shorter_side_in_range():
    np.random.seed(0)
    aug = RandomShortestEdgeScale(base_size=800, scale_range=(0.3, 1.0), max_size=100000)
    image = np.zeros((300, 450, 3), np.uint8)
    shorter = []
    for _ in range(500):
        tfm = aug.get_transform(image)
        assert abs(tfm.new_w / tfm.new_h - 1.5) < 0.02
        shorter.append(min(tfm.new_h, tfm.new_w))
    assert 0.3 * 800 - 1 <= min(shorter) < 0.35 * 800
    assert 0.95 * 800 < max(shorter) <= 800 + 1
    # The longer side is capped by max_size times the same factor.
    aug = RandomShortestEdgeScale(base_size=800, scale_range=(0.3, 1.0), max_size=1000)
    for _ in range(100):
        tfm = aug.get_transform(np.zeros((100, 1000, 3), np.uint8))
        assert tfm.new_w <= 1000 and tfm.new_w / tfm.new_h == pytest.approx(10, rel=0.05)


def test_color_jitter_is_photometric_only():
    np.random.seed(0)
    image = np.random.randint(0, 256, (20, 30, 3), np.uint8)
    tfm = ColorJitter(0.3, 0.3, 0.3, prob=1.0, image_format="BGR").get_transform(image)
    out = tfm.apply_image(image)
    assert out.shape == image.shape and out.dtype == np.uint8 and not np.array_equal(out, image)
    coords = np.array([[1.5, 2.5], [10.0, 3.0]])
    np.testing.assert_array_equal(tfm.apply_coords(coords.copy()), coords)


def test_gray_and_invert_aids():
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    gray_aid, invert_aid = build_photometric_aids(_cfg(GRAY_PROB=1.0, INVERT_PROB=1.0))
    gray = gray_aid.get_transform(image).apply_image(image)
    luma = image.astype(np.float64) @ np.array([0.114, 0.587, 0.299])  # B, G, R weights
    assert np.abs(gray[..., 0].astype(np.float64) - luma).max() <= 0.5 + 1e-6
    assert (gray == gray[..., :1]).all()
    inverted = invert_aid.get_transform(image)
    np.testing.assert_array_equal(inverted.apply_image(image), 255 - image)
    coords = np.array([[1.5, 2.5], [10.0, 3.0]])
    np.testing.assert_array_equal(inverted.apply_coords(coords.copy()), coords)
    with pytest.raises(TypeError, match="uint8"):
        inverted.apply_image(image.astype(np.float32))
    # each with its probability, in the training chain only when switched on, after the
    # colour jitter
    np.random.seed(0)
    aid = build_photometric_aids(_cfg(INVERT_PROB=0.3))[0]
    applied = np.mean([not isinstance(aid.get_transform(image), T.NoOpTransform)
                       for _ in range(2000)])
    assert abs(applied - 0.3) < 0.04
    assert len(build_text_train_augmentation(_cfg())) == 4
    augs = build_text_train_augmentation(_cfg(GRAY_PROB=0.5, INVERT_PROB=0.5))
    assert isinstance(augs[3], ColorJitter) and len(augs) == 6
    assert [a.prob for a in augs[4:]] == [0.5, 0.5]


def test_gt_texts_dont_care_and_unknown_characters(scene, caplog):
    cfg = _cfg(CROP_PROB=0.0, ROTATE_PROB=0.0)
    charset = build_charset(cfg)
    mapper = TextDatasetMapper(cfg, is_train=True)
    with caplog.at_level(logging.WARNING, logger="dld_spotter.data.mapper"):
        inst = mapper(scene)["instances"]
    assert len(inst) == len(WORDS)
    assert inst.gt_texts.shape == (len(WORDS), charset.seq_length)
    assert inst.gt_classes.tolist() == [0] * len(WORDS)
    for row, (text, ignore, _) in zip(inst.gt_texts, WORDS):
        if ignore or text == "café":
            assert torch.all(row == -1)
        else:
            assert charset.decode(row) == text
    assert mapper.encode_stats.num_unknown_words == 1
    assert mapper.encode_stats.unknown_chars["é"] == 1
    assert "outside the charset" in caplog.text and "é" in caplog.text


def test_test_mode_resizes_only(scene):
    out = TextDatasetMapper(_cfg(), is_train=False)(scene)
    assert "instances" not in out and "annotations" not in out
    assert (out["height"], out["width"]) == (H, W)
    assert tuple(out["image"].shape) == (3, 200, 300) and out["image"].dtype == torch.uint8


def test_bad_images_are_named(scene, tmp_path):
    mapper = TextDatasetMapper(_cfg(), is_train=True)
    missing = dict(scene, file_name=str(tmp_path / "missing.png"))
    with pytest.raises(FileNotFoundError, match="missing.png.*data set root"):
        mapper(missing)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not an image at all")
    with pytest.raises(OSError, match="corrupt.png.*(corrupt|truncated)"):
        mapper(dict(scene, file_name=str(corrupt)))
    truncated = tmp_path / "truncated.png"
    data = open(scene["file_name"], "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(OSError, match="truncated.png"):
        mapper(dict(scene, file_name=str(truncated)))


def test_bad_polygon_names_file_and_annotation(scene):
    scene["annotations"][2]["segmentation"] = [[1.0, 2.0, 3.0, 4.0]]
    with pytest.raises(ValueError, match=r"scene.png: annotation #2 \(id 2\)"):
        TextDatasetMapper(_cfg(), is_train=True)(scene)


def test_train_augmentation_order():
    augs = build_text_train_augmentation(_cfg())
    assert isinstance(augs[0], InstanceAwareCrop)
    assert isinstance(augs[2], RandomShortestEdgeScale) and augs[2].base_size == H
    assert isinstance(augs[3], ColorJitter)
