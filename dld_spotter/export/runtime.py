"""``OnnxTextPredictor``: :class:`~dld_spotter.engine.TextPredictor` over an export folder,
the graphs run by onnxruntime and the host doing what they leave out (see the package doc)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, ImageList, Instances

from ..charset import build_charset
from ..config import load_config
from ..data.transforms import build_text_test_augmentation
from ..engine.predictor import CHANNELS, TextPredictor
from ..modeling.drs import thumbnails
from ..modeling.recognizer import AttentionDecoder, AttentionRecognizer
from ..modeling.rescale import resize_image_list
from ..modeling.roi_heads import confirmed_detections
from ..structures import TextList

CONFIG = "config.yaml"
MANIFEST = "export.json"
PROVIDERS = ("CPUExecutionProvider",)


def create_session(path: str, threads: int = 2, providers: Sequence[str] = PROVIDERS):
    """An onnxruntime ``InferenceSession`` of the ONNX file ``path``: every graph
    optimisation, ``threads`` threads inside an operator, operators one at a time."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=list(providers))


def _run(graph, **inputs: torch.Tensor) -> List[torch.Tensor]:
    """The outputs of ``graph`` (an ``InferenceSession``), as tensors, for tensor ``inputs``."""
    feeds = {k: np.ascontiguousarray(v.numpy()) for k, v in inputs.items()}
    return [torch.from_numpy(x) for x in graph.run(None, feeds)]


class OnnxAttentionDecoder:
    """:class:`~dld_spotter.modeling.recognizer.AttentionDecoder`'s own greedy and beam-search
    loops, run on the host; its start and each of its steps are a call of a graph."""

    greedy = AttentionDecoder.greedy
    beam_search = AttentionDecoder.beam_search

    def __init__(self, start, step, num_classes: int, seq_length: int):
        self._start, self._step = start, step
        self.num_classes, self.seq_length = num_classes, seq_length
        self.bos = num_classes  # as AttentionDecoder's

    def start(self, enc: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Initial state ``(N, D)`` and keys ``(N, L, A)`` of ``enc`` ``(N, L, E)``."""
        state, keys = _run(self._start, enc=enc)
        return state, keys

    def step(self, enc: torch.Tensor, keys: torch.Tensor, state: torch.Tensor,
             prev: torch.Tensor, t: int) -> Tuple[Optional[torch.Tensor], ...]:
        """Step ``t``: logits ``(N, K)`` and the new state; no attention weights or glimpse."""
        logits, state = _run(self._step, enc=enc, keys=keys, state=state, prev=prev,
                             t=torch.tensor(t))
        return logits, state, None, None


class OnnxRecognizer:
    """:class:`~dld_spotter.modeling.recognizer.AttentionRecognizer`'s own ``decode`` (greedy
    or beam search, ``MODEL.REC_HEAD.BEAM_WIDTH``), over the encoder and decoder graphs."""

    decode = AttentionRecognizer.decode
    reader, ctc = "attention", None  # export handles the attention reader only

    def __init__(self, encoder, decoder: OnnxAttentionDecoder, beam_width: int):
        self.encoder, self.decoder, self.beam_width = encoder, decoder, beam_width

    def encode(self, rec_features: torch.Tensor) -> torch.Tensor:
        """``F_roi`` ``(N, C, Hr, Wr)`` -> ``F_con`` ``(N, L, E)``."""
        (enc,) = _run(self.encoder, rec_features=rec_features)
        return enc


@dataclass
class Padding:
    """The backbone's padding of its input (what ``ImageList.from_tensors`` and
    :func:`~dld_spotter.modeling.rescale.resize_image_list` read of a backbone)."""

    size_divisibility: int
    padding_constraints: Dict[str, int] = field(default_factory=dict)


class OnnxSpotter:
    """The exported model: a callable on a list of model inputs (``{"image": (3, H, W)
    float, "height", "width"}``) that returns what the PyTorch model's inference returns:
    per image ``{"instances": ...}`` in the original size, and ``"scale"`` for a DLD student.
    """

    def __init__(self, export_dir: str, cfg: CfgNode, manifest: dict, threads: int = 2,
                 providers: Sequence[str] = PROVIDERS):
        def load(part: str):
            path = os.path.join(export_dir, manifest["graphs"].get(part, ""))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"{export_dir}: the {part} graph of export.json is "
                                        "missing; export the model again")
            return create_session(path, threads, providers)

        self.detector = load("detector")
        charset = build_charset(cfg)
        decoder = OnnxAttentionDecoder(load("decoder start"), load("decoder step"),
                                       charset.num_classes, charset.seq_length)
        self.recognizer = OnnxRecognizer(load("recognizer encoder"), decoder,
                                         cfg.MODEL.REC_HEAD.BEAM_WIDTH)
        self.charset = charset
        self.rec_score_thresh = cfg.MODEL.REC_HEAD.SCORE_THRESH_TEST
        self.pixel_mean = torch.tensor(cfg.MODEL.PIXEL_MEAN).view(-1, 1, 1)
        self.pixel_std = torch.tensor(cfg.MODEL.PIXEL_STD).view(-1, 1, 1)
        self.padding = Padding(manifest["size_divisibility"], manifest["padding_constraints"])
        self.resolution = manifest.get("resolution")  # a DLD student's scales
        self.selector = None
        if self.resolution and self.resolution["fixed_scale"] <= 0:
            self.selector = load("selector")

    def __call__(self, batched_inputs: List[dict]) -> List[dict]:
        return [self.inference(x) for x in batched_inputs]

    def preprocess_image(self, x: dict) -> ImageList:
        """``x["image"]`` normalised and padded as the backbone reads it."""
        image = (x["image"] - self.pixel_mean) / self.pixel_std
        return ImageList.from_tensors([image], self.padding.size_divisibility,
                                      padding_constraints=self.padding.padding_constraints)

    def select_scale(self, images: ImageList) -> float:
        """The image's scale: ``FIXED_SCALE``, else the selector's most probable."""
        if self.selector is None:
            return self.resolution["fixed_scale"]
        thumbs = thumbnails(images.tensor, images.image_sizes,
                            self.resolution["thumbnail_size"])
        (log_p,) = _run(self.selector, thumbnails=thumbs)
        return self.resolution["scales"][int(log_p[0].argmax())]

    def inference(self, x: dict) -> dict:
        """One model input's output (see the class doc)."""
        images = self.preprocess_image(x)
        output = {}
        if self.resolution:
            output["scale"] = self.select_scale(images)
            images, _ = resize_image_list(images, [output["scale"]], self.padding)
        size = images.image_sizes[0]
        boxes, scores, classes, masks, rec_features = _run(
            self.detector, image=images.tensor, image_size=torch.tensor(size))
        result = Instances(size, pred_boxes=Boxes(boxes), scores=scores, pred_classes=classes,
                           pred_masks=masks)
        result.pred_texts, result.text_scores = self.read(rec_features)
        result = confirmed_detections(result, self.rec_score_thresh)
        h, w = x["image"].shape[1:]
        output["instances"] = detector_postprocess(result, x.get("height", h),
                                                   x.get("width", w))
        return output

    def read(self, rec_features: torch.Tensor) -> Tuple[TextList, torch.Tensor]:
        """The texts and text scores ``(N,)`` of ``F_roi`` ``(N, C, Hr, Wr)``."""
        if len(rec_features) == 0:
            return TextList([]), torch.zeros(0)
        decoded = self.recognizer.decode(rec_features)
        return TextList(self.charset.decode_batch(decoded.ids)), decoded.scores


def read_export_folder(export_dir: str) -> Tuple[CfgNode, dict]:
    """The config and the manifest of an export folder; errors name the missing file."""
    paths = [os.path.join(export_dir, f) for f in (CONFIG, MANIFEST)]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} does not exist: {export_dir} is no export folder; "
                                    "write one with python -m dld_spotter.export")
    with open(paths[1]) as f:
        return load_config(paths[0]), json.load(f)


class OnnxTextPredictor(TextPredictor):
    """:class:`~dld_spotter.engine.TextPredictor` (the same pre-processing, the same call
    and outputs) whose model is the export folder ``export_dir``, run with onnxruntime
    (``threads`` threads per operator, ``providers`` its execution providers)."""

    def __init__(self, export_dir: str, *, threads: int = 2,
                 providers: Sequence[str] = PROVIDERS):
        # TextPredictor.__init__, with the exported graphs for the model and its weights.
        cfg, manifest = read_export_folder(export_dir)
        self.cfg = cfg
        self.model = OnnxSpotter(export_dir, cfg, manifest, threads, providers)
        if len(cfg.DATASETS.TEST):
            self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        self.aug = build_text_test_augmentation(cfg)[0]
        self.input_format = cfg.INPUT.FORMAT
        if self.input_format not in CHANNELS:
            raise ValueError(f"INPUT.FORMAT must be one of {CHANNELS}, got {self.input_format!r}")
