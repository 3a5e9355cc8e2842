"""The predictor (dld_spotter.engine.predictor): its input contract, dtype x channels x layout,
and what it says about inputs it cannot take."""
import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog

from dld_spotter.engine import TextPredictor


def image_of(synth_dataset):
    return cv2.imread(DatasetCatalog.get(synth_dataset[1])[0]["file_name"])


def test_predictor_takes_any_image_layout_or_says_what_it_got(tiny_weights, synth_dataset):
    predictor = TextPredictor(tiny_weights)
    bgr = image_of(synth_dataset)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    grey_bgr = np.repeat(grey[:, :, None], 3, axis=2)
    bgra = np.concatenate([bgr, np.full_like(bgr[:, :, :1], 255)], axis=2)

    def predicted(image, channels="BGR"):
        out = predictor(image, channels)["instances"]
        assert out.image_size == bgr.shape[:2]
        return out.pred_boxes.tensor, out.pred_texts

    from_bgr, from_grey = predicted(bgr), predicted(grey_bgr)
    assert len(from_bgr[0]) > 0
    layouts = [  # (name, image, its channel order, what the model sees)
        ("BGR", bgr, "BGR", from_bgr), ("RGB", bgr[:, :, ::-1], "RGB", from_bgr),
        ("BGRA", bgra, "BGR", from_bgr), ("RGBA", bgra[:, :, [2, 1, 0, 3]], "RGB", from_bgr),
        ("grey", grey, "BGR", from_grey), ("grey (H, W, 1)", grey[:, :, None], "RGB", from_grey)]
    dtypes = {"uint8": lambda x: x, "float32 in [0, 1]": lambda x: x.astype(np.float32) / 255,
              "float64 in [0, 255]": lambda x: x.astype(np.float64)}
    for name, image, channels, (want_boxes, want_texts) in layouts:
        for dtype, convert in dtypes.items():
            got_boxes, got_texts = predicted(convert(image), channels)
            assert torch.equal(got_boxes, want_boxes) and got_texts == want_texts, (name, dtype)
    for image, error, match in (
            (bgr.transpose(2, 0, 1), ValueError, r"looks \(C, H, W\).*transpose"),
            (torch.from_numpy(bgr), TypeError, "torch.Tensor"),
            (None, TypeError, "cv2.imread returns None"),
            (bgr.astype(np.uint16), ValueError, "dtype uint16"),
            (bgr[:, :, :2], ValueError, r"shape \(\d+, \d+, 2\)"),
            (bgr * 2.0, ValueError, r"outside \[0, 255\]"),
            (np.full(bgr.shape, np.nan), ValueError, "not finite"),
            ([[0, 1]], TypeError, "got a list")):
        with pytest.raises(error, match=match):
            predictor(image)
    with pytest.raises(ValueError, match="channels"):
        predictor(bgr, "BRG")
