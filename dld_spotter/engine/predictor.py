"""``TextPredictor``: detectron2's ``DefaultPredictor``, strict about its weights and explicit
about the images it takes."""
from __future__ import annotations

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.engine import DefaultPredictor
from detectron2.modeling import build_model

from ..checkpoint import load_strict
from ..data.transforms import build_text_test_augmentation

CHANNELS = ("BGR", "RGB")


def to_bgr_uint8(image: np.ndarray, channels: str = "BGR") -> np.ndarray:
    """``image`` as the (H, W, 3) uint8 BGR array that ``DefaultPredictor`` expects.

    Args:
        image: (H, W) or (H, W, 1) grey, (H, W, 3) colour or (H, W, 4) colour and alpha (the
            alpha is dropped); uint8, or float in [0, 1] (in [0, 255] if any value exceeds 1).
        channels: the order of colour channels: "BGR" (OpenCV, ``cv2.imread``) or "RGB" (PIL,
            matplotlib, imageio).

    Raises:
        TypeError: ``image`` is None (what ``cv2.imread`` returns for a file it cannot read),
            a torch tensor or no numpy array.
        ValueError: a layout, dtype or value range of none of the above, e.g. (C, H, W).
    """
    if image is None:
        raise TypeError("got None instead of an image: cv2.imread returns None for a file it "
                        "cannot read; check the path")
    if isinstance(image, torch.Tensor):
        raise TypeError(f"got a torch.Tensor of shape {tuple(image.shape)}, expected an "
                        "(H, W, C) numpy array, e.g. tensor.permute(1, 2, 0).cpu().numpy() for "
                        "a (C, H, W) tensor")
    if not isinstance(image, np.ndarray):
        raise TypeError(f"got a {type(image).__name__}, expected an (H, W, C) numpy array")
    if channels not in CHANNELS:
        raise ValueError(f"channels must be one of {CHANNELS}, got {channels!r}")
    shape = image.shape
    if image.ndim == 3 and shape[0] in (1, 3, 4) and shape[2] not in (1, 3, 4):
        raise ValueError(f"got an array of shape {shape}, which looks (C, H, W); images are "
                         "(H, W, C): pass image.transpose(1, 2, 0)")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape[:2]:
        raise ValueError(f"got an array of shape {shape}, expected (H, W) or (H, W, 1) grey, "
                         "(H, W, 3) colour or (H, W, 4) colour and alpha")
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 255:
            raise ValueError(f"got a {image.dtype} image with values outside [0, 255] or not "
                             "finite; float images are in [0, 1] (or [0, 255])")
        scale = 255.0 if image.max() <= 1.0 else 1.0
        image = np.round(image * scale).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"got dtype {image.dtype}, expected uint8 in [0, 255] or float in "
                         "[0, 1]")
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    image = image[:, :, :3]
    return np.ascontiguousarray(image[:, :, ::-1] if channels == "RGB" else image)


class TextPredictor(DefaultPredictor):
    """``DefaultPredictor`` for this project's models.

    The weights of ``MODEL.WEIGHTS`` load with :func:`~dld_spotter.checkpoint.load_strict`:
    an empty ``MODEL.WEIGHTS``, an unreadable file or weights of another architecture are
    errors naming the file (``allow_partial=True`` loads what fits, with a warning). Any image
    that :func:`to_bgr_uint8` takes is accepted; ``channels`` names its colour order.
    """

    def __init__(self, cfg, *, allow_partial: bool = False):
        # DefaultPredictor.__init__, loading strictly where detectron2 logs what does not fit.
        self.cfg = cfg.clone()
        self.model = build_model(self.cfg).eval()
        if len(cfg.DATASETS.TEST):
            self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        load_strict(self.model, cfg.MODEL.WEIGHTS, "MODEL.WEIGHTS must be the checkpoint of "
                    "this config", allow_partial=allow_partial)
        self.aug = build_text_test_augmentation(cfg)[0]  # the evaluation's own resize
        self.input_format = cfg.INPUT.FORMAT
        if self.input_format not in CHANNELS:
            raise ValueError(f"INPUT.FORMAT must be one of {CHANNELS}, got {self.input_format!r}")

    def __call__(self, original_image: np.ndarray, channels: str = "BGR") -> dict:
        """The model's outputs for one image (:func:`to_bgr_uint8`): ``{"instances": ...}`` in
        the image's coordinates."""
        return super().__call__(to_bgr_uint8(original_image, channels))
