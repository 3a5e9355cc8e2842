"""Config keys of dld-spotter. Defaults are the paper's values (DLD, §3–4.1)."""
import os
from typing import Sequence

import torch
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg


def add_dld_config(cfg: CN) -> None:
    """Add every dld-spotter key to ``cfg`` (a detectron2 default config), in place."""
    _C = cfg
    # Run where we are: CUDA when there is a GPU, else the CPU (override with MODEL.DEVICE).
    _C.MODEL.DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

    # --- Text: what the recognizer reads ---------------------------------------------------
    _C.MODEL.TEXT = CN()
    # Characters in class order; empty = the 95 printable ASCII characters.
    _C.MODEL.TEXT.CHARSET = ""
    # A UTF-8 file with one character per line; overrides CHARSET (other languages).
    _C.MODEL.TEXT.CHARSET_FILE = ""
    _C.MODEL.TEXT.MAX_LENGTH = 25
    _C.MODEL.TEXT.CASE_SENSITIVE = True

    # --- Recognition branch (§3.2) ----------------------------------------------------------
    _C.MODEL.REC_HEAD = CN()
    _C.MODEL.REC_HEAD.NAME = "AttentionRecognizer"
    # Feature maps pooled for recognition; empty = MODEL.ROI_HEADS.IN_FEATURES.
    _C.MODEL.REC_HEAD.IN_FEATURES = []
    _C.MODEL.REC_HEAD.POOLER_RESOLUTION = (8, 32)  # (H_r, W_r)
    _C.MODEL.REC_HEAD.POOLER_SAMPLING_RATIO = 0
    _C.MODEL.REC_HEAD.POOLER_TYPE = "ROIAlignV2"
    # RoI-Masking: multiply the pooled features by the instance mask.
    _C.MODEL.REC_HEAD.MASKING = True
    _C.MODEL.REC_HEAD.NUM_CONV = 6
    _C.MODEL.REC_HEAD.CONV_DIM = 256
    _C.MODEL.REC_HEAD.NORM = "BN"
    _C.MODEL.REC_HEAD.LSTM_HIDDEN = 256
    _C.MODEL.REC_HEAD.LSTM_LAYERS = 1
    _C.MODEL.REC_HEAD.EMBED_DIM = 128
    _C.MODEL.REC_HEAD.ATTENTION_DIM = 256
    # Inference decoding: 1 = greedy, > 1 = beam search of that width.
    _C.MODEL.REC_HEAD.BEAM_WIDTH = 1
    _C.MODEL.REC_HEAD.LOSS_WEIGHT = 1.0  # lambda_1
    # Training RoIs: the ground-truth boxes, plus (if > 0) up to this many foreground
    # proposals per image whose IoU with their ground truth is >= PROPOSAL_IOU.
    _C.MODEL.REC_HEAD.PROPOSALS_PER_IMAGE = 16
    _C.MODEL.REC_HEAD.PROPOSAL_IOU = 0.7
    # Cap on recognition RoIs per image in training (ground truth first).
    _C.MODEL.REC_HEAD.MAX_TRAIN_ROIS_PER_IMAGE = 64

    # --- Light backbone for CPU configs -------------------------------------------------------
    _C.MODEL.LIGHT_NET = CN()
    # Output channels of the stages res2..res5 (strides 4, 8, 16, 32).
    _C.MODEL.LIGHT_NET.STAGE_CHANNELS = (32, 64, 96, 128)
    _C.MODEL.LIGHT_NET.BLOCKS_PER_STAGE = (1, 1, 1, 1)
    _C.MODEL.LIGHT_NET.STEM_CHANNELS = 32
    _C.MODEL.LIGHT_NET.NORM = "BN"
    _C.MODEL.LIGHT_NET.OUT_FEATURES = ["res2", "res3", "res4", "res5"]

    # --- Training augmentation (§4.1) ---------------------------------------------------------
    _C.INPUT.TEXT_AUG = CN()
    # Shorter side drawn uniformly in SCALE_RANGE x INPUT.MIN_SIZE_TRAIN[-1] (the base size).
    _C.INPUT.TEXT_AUG.SCALE_RANGE = (0.3, 1.0)
    # Instance-aware random crop that never cuts a word.
    _C.INPUT.TEXT_AUG.CROP_PROB = 0.5
    _C.INPUT.TEXT_AUG.CROP_MIN_RATIO = 0.5  # smallest crop side, relative to the image side
    # Rotation angle drawn uniformly in [-ROTATE_ANGLE, ROTATE_ANGLE] degrees.
    _C.INPUT.TEXT_AUG.ROTATE_PROB = 0.5
    _C.INPUT.TEXT_AUG.ROTATE_ANGLE = 15.0
    # Photometric jitter: factors drawn in [1 - x, 1 + x].
    _C.INPUT.TEXT_AUG.COLOR_PROB = 0.5
    _C.INPUT.TEXT_AUG.BRIGHTNESS = 0.3
    _C.INPUT.TEXT_AUG.CONTRAST = 0.3
    _C.INPUT.TEXT_AUG.SATURATION = 0.3

    # --- Optimizer (§4.1: AdamW, step decay) --------------------------------------------------
    _C.SOLVER.OPTIMIZER = "AdamW"  # or "SGD" (detectron2's default behaviour)

    # --- Evaluation ---------------------------------------------------------------------------
    _C.TEST.TEXT = CN()
    # Detections whose recognition score is below this are dropped before end-to-end scoring.
    _C.TEST.TEXT.REC_SCORE_THRESH = 0.0


def load_config(config_file: str = "", opts: Sequence[str] = ()) -> CN:
    """detectron2's defaults + :func:`add_dld_config`, then ``config_file`` and ``opts``.

    Unknown keys raise ``KeyError`` naming the file (or the command line) and the key.
    """
    cfg = get_cfg()
    add_dld_config(cfg)
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(
                f"Config file {config_file!r} does not exist; configs live in configs/ "
                "(e.g. configs/synth/teacher_tiny.yaml)"
            )
        try:
            cfg.merge_from_file(config_file)
        except KeyError as e:
            raise KeyError(
                f"{config_file}: {e.args[0] if e.args else e}. The key is misspelt or belongs "
                "to no dld-spotter/detectron2 config; see dld_spotter/config.py for ours"
            ) from e
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError, ValueError) as e:
        raise type(e)(f"command-line opts {list(opts)}: {e}") from e
    return cfg
