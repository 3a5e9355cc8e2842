"""Writing a spotter's ONNX graphs (:mod:`.graphs`): each traced on one sample image, then
run by onnxruntime on the same inputs and compared with PyTorch, so that a graph that differs
from the model is an error, never a file. The export folder also holds the config
(``config.yaml``) and ``export.json`` (what the host needs that the config does not say)."""
from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.export.torchscript_patch import patch_builtin_len
from detectron2.modeling.proposal_generator import RPN
from torch import nn

from ..data.transforms import build_text_test_augmentation
from ..engine.predictor import to_bgr_uint8
from ..files import atomic_write
from ..modeling import DLDSpotter, TextSpotter
from ..modeling.recognizer import AttentionRecognizer
from ..modeling.selector import FixedResolution
from .graphs import (
    DECODER_START,
    DECODER_STEP,
    DETECTOR,
    ENCODER,
    SELECTOR,
    DecoderStartGraph,
    DecoderStepGraph,
    DetectorGraph,
    EncoderGraph,
    SelectorGraph,
)
from .runtime import CONFIG, MANIFEST, create_session

logger = logging.getLogger(__name__)

OPSET = 17
# onnxruntime's outputs on the sample may differ from PyTorch's by this much, relative to the
# largest magnitude of each output (float32 kernels sum in other orders).
RTOL = 1e-3
SAMPLE_SEED = 0


class ExportError(RuntimeError):
    """A model, or a part of it, that cannot be exported; the message starts with the part."""


@contextlib.contextmanager
def _part(name: str) -> Iterator[None]:
    """Errors inside the block become :class:`ExportError` naming part ``name``."""
    try:
        yield
    except ExportError:
        raise
    except Exception as e:
        raise ExportError(f"{name}: {type(e).__name__}: {e}") from e


def base_spotter(model: nn.Module) -> nn.Module:
    """The spotter of ``model``: itself, or the one a :class:`DLDSpotter` wraps."""
    return model.spotter if isinstance(model, DLDSpotter) else model


def check_exportable(model: nn.Module) -> None:
    """Raise :class:`ExportError` naming the part of ``model`` that has no exported form."""
    spotter = base_spotter(model)
    if not isinstance(spotter, TextSpotter) or not isinstance(spotter.proposal_generator, RPN):
        raise ExportError(f"model: {type(spotter).__name__} is not exported; export handles "
                          "TextSpotter (Mask R-CNN) and DLDSpotter around it "
                          "(MODEL.META_ARCHITECTURE, MODEL.DLD.BASE_ARCHITECTURE)")
    heads = spotter.roi_heads
    if len(heads.rec_in_features) != 1:
        raise ExportError(
            f"detector: recognition RoIs pooled from several levels {heads.rec_in_features} "
            "do not trace (which level a word reads from is a data-dependent branch); set "
            "MODEL.REC_HEAD.IN_FEATURES to one level (the paper: ['p2']) and re-train")
    recognizer = heads.recognizer
    if not isinstance(recognizer, AttentionRecognizer):
        raise ExportError(f"recognizer: {type(recognizer).__name__} (MODEL.REC_HEAD.NAME) is "
                          "not exported; export handles AttentionRecognizer")
    if recognizer.reader != "attention":
        raise ExportError(f"recognizer: MODEL.REC_HEAD.READER {recognizer.reader!r} is not "
                          "exported; export handles the attention decoder ('attention')")
    if next(model.parameters()).device.type != "cpu":
        raise ExportError("model: export traces on the CPU: build the model with "
                          "MODEL.DEVICE cpu")


def sample_image(image_format: str = "BGR") -> np.ndarray:
    """The default sample to trace on: a synthetic scene of words (``dld_spotter.data.synth``,
    seed 0), ``(H, W, 3)`` uint8 in ``image_format``."""
    from ..data.synth import find_fonts, generate_image

    rgb, _ = generate_image(np.random.default_rng(SAMPLE_SEED), find_fonts())
    return to_bgr_uint8(rgb, "RGB") if image_format == "BGR" else rgb


def model_input(cfg: CfgNode, image: np.ndarray) -> dict:
    """``image`` (``(H, W, 3)`` uint8 in ``INPUT.FORMAT``) as the model's input dict, resized
    as ``TextPredictor`` resizes it."""
    aug = build_text_test_augmentation(cfg)[0]
    resized = aug.get_transform(image).apply_image(image)
    return {"image": torch.as_tensor(resized.astype("float32").transpose(2, 0, 1)),
            "height": image.shape[0], "width": image.shape[1]}


def export_model(model: nn.Module, cfg: CfgNode, output_dir: str,
                 sample: Optional[np.ndarray] = None) -> Dict[str, str]:
    """Write the ONNX graphs of ``model`` (a :class:`TextSpotter` or :class:`DLDSpotter`
    built from ``cfg``, on the CPU, weights loaded), ``config.yaml`` and ``export.json`` to
    ``output_dir``; return the graphs' paths by name.

    Args:
        sample: the image to trace on, ``(H, W, 3)`` uint8 in ``cfg.INPUT.FORMAT``, in which
            the model must find at least two words; default :func:`sample_image`.

    Raises:
        ExportError: a part that cannot be traced, or whose graph onnxruntime runs to other
            outputs than PyTorch's on the sample; the message starts with the part.
    """
    check_exportable(model)
    model.eval()
    if sample is None:
        sample = sample_image(cfg.INPUT.FORMAT)
    os.makedirs(output_dir, exist_ok=True)
    with torch.no_grad():
        images = model.preprocess_image([model_input(cfg, sample)])
        graphs = []
        spotter = base_spotter(model)
        if isinstance(model, DLDSpotter) and not isinstance(model.selector, FixedResolution):
            thumbnails = model.selector.thumbnails(images.tensor, images.image_sizes)
            graphs.append(("selector", SELECTOR, SelectorGraph(model.selector), (thumbnails,),
                           ["thumbnails"], ["log_probs"]))
        if isinstance(model, DLDSpotter):
            images, _ = spotter.rescale(images, model.select_scales(images))
        detector = DetectorGraph(spotter)
        detector_args = (images.tensor, torch.tensor(images.image_sizes[0]))
        with _part("detector"):
            detections = detector(*detector_args)
        if len(detections[0]) < 2:
            raise ExportError(
                f"detector: the model finds {len(detections[0])} word(s) in the sample image; "
                "tracing needs at least 2 to record the steps that run per detection: give a "
                "sample image in which it finds several words")
        decoder = spotter.text_recognizer.decoder
        enc = spotter.text_recognizer.encode(detections[4])
        state, keys = decoder.start(enc)
        prev = torch.full((len(enc),), decoder.bos, dtype=torch.long)
        graphs += [  # the small graphs first: their errors come fast
            ("recognizer encoder", ENCODER, EncoderGraph(spotter.text_recognizer),
             (detections[4],), ["rec_features"], ["enc"]),
            ("decoder start", DECODER_START, DecoderStartGraph(decoder), (enc,), ["enc"],
             ["state", "keys"]),
            ("decoder step", DECODER_STEP, DecoderStepGraph(decoder),
             (enc, keys, state, prev, torch.tensor(0)), ["enc", "keys", "state", "prev", "t"],
             ["logits", "state_out"]),
            ("detector", DETECTOR, detector, detector_args, ["image", "image_size"],
             ["boxes", "scores", "classes", "masks", "rec_features"]),
        ]
        paths = {}
        for part, file_name, graph, args, inputs, outputs in graphs:
            path = os.path.join(output_dir, file_name)
            with _part(part):
                _trace(graph.eval(), args, path, inputs, outputs)
            check_graph(part, path, graph, args, inputs)
            paths[part] = path
    _write_folder(model, cfg, output_dir, paths)
    return paths


def _dynamic_axes(names: Sequence[str]) -> Dict[str, Dict[int, str]]:
    """The image's height and width; the first axis (detections, images) of the others but
    ``image_size`` and the step ``t``."""
    return {n: {2: "height", 3: "width"} if n == "image" else {0: "n"}
            for n in names if n not in ("image_size", "t")}


def _trace(graph: nn.Module, args: Tuple[torch.Tensor, ...], path: str, inputs: List[str],
           outputs: List[str]) -> None:
    """``torch.onnx.export`` by tracing (detectron2's inference is written to trace, with
    ``len`` patched as detectron2's ``TracingAdapter`` does), written atomically."""
    axes = _dynamic_axes(inputs + outputs)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with warnings.catch_warnings(), patch_builtin_len():
            warnings.simplefilter("ignore")  # TracerWarnings: check_graph tests the result
            torch.onnx.export(graph, args, tmp, dynamo=False, opset_version=OPSET,
                              input_names=inputs, output_names=outputs, dynamic_axes=axes)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def check_graph(part: str, path: str, graph: nn.Module, args: Tuple[torch.Tensor, ...],
                inputs: List[str]) -> None:
    """Run the ONNX file ``path`` with onnxruntime on ``args`` and compare its outputs with
    ``graph``'s; :class:`ExportError` naming ``part`` where a shape differs or a value differs
    by more than ``RTOL`` of the output's largest magnitude."""
    with torch.no_grad():
        expected = graph(*args)
    expected = expected if isinstance(expected, tuple) else (expected,)
    with _part(part):
        runner = create_session(path)
        got = runner.run(None, {n: a.numpy() for n, a in zip(inputs, args)})
    names = [o.name for o in runner.get_outputs()]
    for name, ours, theirs in zip(names, got, expected):
        theirs = theirs.numpy()
        if ours.shape != theirs.shape:
            raise ExportError(f"{part}: onnxruntime's {name} has shape {ours.shape} on the "
                              f"sample, PyTorch's {theirs.shape}: {path} is not written right")
        scale = max(float(np.abs(theirs).max(initial=0.0)), 1.0)
        diff = float(np.abs(ours.astype(np.float64) - theirs).max(initial=0.0))
        if diff > RTOL * scale:
            raise ExportError(f"{part}: onnxruntime's {name} differs from PyTorch's by {diff:.3g} "
                              f"on the sample (largest value {scale:.3g}): {path} is not "
                              "written right")


def _write_folder(model: nn.Module, cfg: CfgNode, output_dir: str,
                  paths: Dict[str, str]) -> None:
    """``config.yaml`` (on the CPU) and ``export.json``, atomically."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    with atomic_write(os.path.join(output_dir, CONFIG)) as f:
        f.write(cfg.dump())
    manifest = {
        "graphs": {part: os.path.basename(p) for part, p in paths.items()},
        "size_divisibility": base_spotter(model).backbone.size_divisibility,
        "padding_constraints": base_spotter(model).backbone.padding_constraints,
        "opset": OPSET,
        "torch": torch.__version__,
        "weights": cfg.MODEL.WEIGHTS,
    }
    if isinstance(model, DLDSpotter):
        selector = model.selector
        fixed = isinstance(selector, FixedResolution)
        manifest["resolution"] = {"scales": list(model.scales),
                                  "fixed_scale": selector.scale if fixed else 0.0,
                                  "thumbnail_size": 0 if fixed else selector.thumbnail_size}
    with atomic_write(os.path.join(output_dir, MANIFEST)) as f:
        json.dump(manifest, f, indent=1)
