"""Config keys of dld-spotter, added to detectron2's defaults: :func:`add_text_spotter_config`
(the Mask R-CNN text spotter, its data and evaluation) and :func:`add_dld_config` (DLD's
student); :func:`load_config` adds both. Defaults are the paper's values (DLD, §3–4.1) and
do not depend on the machine: ``MODEL.DEVICE`` is detectron2's "cuda", and entry points run on
the CPU where there is no GPU (:func:`resolve_device`)."""
import logging
import os
from typing import Sequence

import torch
from detectron2.config import CfgNode as CN
from detectron2.config import get_cfg

logger = logging.getLogger(__name__)


def add_text_spotter_config(cfg: CN) -> None:
    """Add the keys of the text spotter (recognition branch, charset, light backbone, text
    augmentation, training data mix, text evaluation) to ``cfg``, in place."""
    _C = cfg
    # --- Text: what the recognizer reads ---------------------------------------------------
    _C.MODEL.TEXT = CN()
    # Characters in class order; empty = the 95 printable ASCII characters.
    _C.MODEL.TEXT.CHARSET = ""
    # A UTF-8 file with one character per line; overrides CHARSET (other languages).
    _C.MODEL.TEXT.CHARSET_FILE = ""
    _C.MODEL.TEXT.MAX_LENGTH = 25
    _C.MODEL.TEXT.CASE_SENSITIVE = True

    # --- Box head at inference ---------------------------------------------------------------
    # A detection more than this fraction of its box inside a higher-scoring detection is
    # dropped after box NMS (a word fragment beside the whole word); 1.0 = off.
    _C.MODEL.ROI_HEADS.CONTAINMENT_THRESH_TEST = 1.0

    # --- Recognition branch (§3.2) ----------------------------------------------------------
    _C.MODEL.REC_HEAD = CN()
    _C.MODEL.REC_HEAD.NAME = "AttentionRecognizer"
    # Feature maps pooled for recognition; empty = MODEL.ROI_HEADS.IN_FEATURES.
    _C.MODEL.REC_HEAD.IN_FEATURES = []
    _C.MODEL.REC_HEAD.POOLER_RESOLUTION = (8, 32)  # (H_r, W_r)
    _C.MODEL.REC_HEAD.POOLER_SAMPLING_RATIO = 0
    _C.MODEL.REC_HEAD.POOLER_TYPE = "ROIAlignV2"
    # Table 4 (†): pool at this half size, then a stride-2 deconvolution; empty = off.
    _C.MODEL.REC_HEAD.DECONV_FROM = []
    # RoI-Masking: multiply the pooled features by the instance mask.
    _C.MODEL.REC_HEAD.MASKING = True
    _C.MODEL.REC_HEAD.NUM_CONV = 6
    _C.MODEL.REC_HEAD.CONV_DIM = 256
    _C.MODEL.REC_HEAD.NORM = "BN"
    # Normalise each RoI's features per channel before the convs (not in the paper): words in
    # any ink and background colour then look alike (the measurements:
    # docs/benchmarks/recognition_pretraining.md).
    _C.MODEL.REC_HEAD.INSTANCE_NORM = False
    _C.MODEL.REC_HEAD.LSTM_HIDDEN = 256
    _C.MODEL.REC_HEAD.LSTM_LAYERS = 1
    _C.MODEL.REC_HEAD.EMBED_DIM = 128
    _C.MODEL.REC_HEAD.ATTENTION_DIM = 256
    # Inference decoding: 1 = greedy, > 1 = beam search of that width.
    _C.MODEL.REC_HEAD.BEAM_WIDTH = 1
    # Inference keeps only the detections whose reading scores at least this (text_scores,
    # the decoder's sequence probability): the recognizer confirms that a detection is a word.
    # Given boxes (recognition on ground-truth boxes) are all read. 0 = every detection.
    _C.MODEL.REC_HEAD.SCORE_THRESH_TEST = 0.0
    # Learning aids, not in the paper (off by default; measured in
    # docs/benchmarks/recognition_pretraining.md): joint CTC-attention training, a CTC
    # classifier on the BiLSTM output whose loss (loss_ctc) has this weight; 0 = none.
    _C.MODEL.REC_HEAD.CTC_WEIGHT = 0.0
    # Which head reads at inference: "attention" (the paper's decoder) or "ctc" (greedy; needs
    # CTC_WEIGHT > 0).
    _C.MODEL.REC_HEAD.READER = "attention"
    # Scheduled sampling: probability that a training step feeds the decoder its own previous
    # greedy class instead of the ground truth; 0 = teacher forcing.
    _C.MODEL.REC_HEAD.SAMPLING_PROB = 0.0
    _C.MODEL.REC_HEAD.LOSS_WEIGHT = 1.0  # lambda_1
    # Training RoIs: the ground-truth boxes, plus (if > 0) up to this many foreground
    # proposals per image whose IoU with their ground truth is >= PROPOSAL_IOU.
    _C.MODEL.REC_HEAD.PROPOSALS_PER_IMAGE = 16
    _C.MODEL.REC_HEAD.PROPOSAL_IOU = 0.7
    # The ground-truth training boxes jittered like a detector's: each side moves by a normal
    # deviate (clipped to +-2 sigma) of these standard deviations, (left/right, top/bottom) in
    # units of the box height; (0, 0) = the exact ground-truth boxes.
    _C.MODEL.REC_HEAD.BOX_JITTER = (0.0, 0.0)
    # Cap on recognition RoIs per image in training (ground truth first).
    _C.MODEL.REC_HEAD.MAX_TRAIN_ROIS_PER_IMAGE = 64
    # Legibility floor: words lower than this many input pixels (the text height of their
    # polygon, dld_spotter.data.stream.text_heights) train detection only; 0 = every word.
    _C.MODEL.REC_HEAD.MIN_TRAIN_HEIGHT = 0.0

    # --- Segmentation detector (META_ARCHITECTURE "SegTextSpotter", DB-style) ----------------
    # MODEL.PROPOSAL_GENERATOR.NAME "TextSegmentationHead": a probability map P and a threshold
    # map T at input resolution from the FPN levels IN_FEATURES (upsampled to the finest and
    # concatenated, CONV_DIM channels in all; the finest level's stride must be a power of 2).
    _C.MODEL.SEG_HEAD = CN()
    _C.MODEL.SEG_HEAD.IN_FEATURES = ["p2", "p3", "p4", "p5"]
    _C.MODEL.SEG_HEAD.CONV_DIM = 64  # divisible by 4 and by len(IN_FEATURES)
    _C.MODEL.SEG_HEAD.NORM = "BN"
    # P's targets are the words shrunk by D = A (1 - r^2) / L (A area, L perimeter, r this);
    # T's are 1 - distance to the word's border / D in the band of width D around it, scaled
    # to THRESH_RANGE.
    _C.MODEL.SEG_HEAD.SHRINK_RATIO = 0.4
    _C.MODEL.SEG_HEAD.THRESH_RANGE = (0.3, 0.7)
    # Training: the approximate binary map B = sigmoid(K (P - T)).
    _C.MODEL.SEG_HEAD.K = 50.0
    # Hard-negative mining of P's cross-entropy: at most this many negatives per positive.
    _C.MODEL.SEG_HEAD.NEG_RATIO = 3.0
    # Loss weights of loss_seg_prob (balanced cross-entropy on P), loss_seg_thresh (L1 on T
    # in the bands) and loss_seg_binary (dice on B): DB's 5, 10, 1.
    _C.MODEL.SEG_HEAD.PROB_LOSS_WEIGHT = 5.0
    _C.MODEL.SEG_HEAD.THRESH_LOSS_WEIGHT = 10.0
    _C.MODEL.SEG_HEAD.BINARY_LOSS_WEIGHT = 1.0
    # Inference: the regions of P > BINARIZE_THRESH_TEST whose mean P is >= BOX_THRESH_TEST,
    # shorter side >= MIN_SIZE_TEST input px, grown back by UNCLIP_RATIO x the distance that
    # inverts the shrink (1.0: a shrunk rectangle grows back exactly to its word). At most
    # TEST.DETECTIONS_PER_IMAGE words, each with its polygon rasterised in its box at
    # MASK_RESOLUTION x MASK_RESOLUTION (pred_masks, the RoI-Masking of recognition).
    # BOX_THRESH_TEST and UNCLIP_RATIO were chosen with tools/tune_thresholds.py on 100 tuning
    # scenes of another seed (seed 1) with the tiny spotter (configs/synth/seg_teacher_tiny.yaml):
    # E2E 66.4 at box score 0.5 against 63.9 at 0.6 (unclip 1.0); the binarized regions are
    # wider than the shrunk words they stand for (at 1.0 the boxes come out 0.41 word heights
    # too tall): E2E 65.0 / 70.6 / 70.9 / 70.5 / 66.4 / 58.5 at unclip 0.6 / 0.75 / 0.8 / 0.85 /
    # 1.0 / 1.2. They are defaults so that every config of the spotter, a DLD student's too
    # (MODEL.DLD.BASE_ARCHITECTURE), reads as the tuned one.
    _C.MODEL.SEG_HEAD.BINARIZE_THRESH_TEST = 0.3
    _C.MODEL.SEG_HEAD.BOX_THRESH_TEST = 0.5
    _C.MODEL.SEG_HEAD.MIN_SIZE_TEST = 3.0
    _C.MODEL.SEG_HEAD.UNCLIP_RATIO = 0.8
    _C.MODEL.SEG_HEAD.MASK_RESOLUTION = 28

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
    # Learning aids of the recognizer, not in the paper (0 = off): the image made grey, then
    # inverted (light ink on dark <-> dark on light), each with this probability.
    _C.INPUT.TEXT_AUG.GRAY_PROB = 0.0
    _C.INPUT.TEXT_AUG.INVERT_PROB = 0.0

    # --- Word crops (the recognizer's pre-training, META_ARCHITECTURE "RecognitionPretrainer") --
    # Cut each legible word of every augmented training scene into its own canvas of SIZE
    # (H, W) with its surroundings; SOLVER.IMS_PER_BATCH then counts crops. Words lower than
    # MODEL.REC_HEAD.MIN_TRAIN_HEIGHT are not cut.
    _C.INPUT.WORD_CROPS = CN()
    _C.INPUT.WORD_CROPS.ENABLED = False
    _C.INPUT.WORD_CROPS.SIZE = (48, 192)
    # "scenes": cut from the streamed scenes (above); "rendered": upright words rendered alone
    # on plain backgrounds, each filling its crop (dld_spotter.data.stream.RenderedCropStream).
    _C.INPUT.WORD_CROPS.SOURCE = "scenes"
    # Folders of real word images (dld_spotter.data.real_crops: images + gt.txt, e.g. IC15's
    # WordRecognition/TrainingSet), relative to $DLD_DATASETS unless absolute, mixed into the
    # crops above: REAL_RATIO of the crops are real. The last REAL_HELDOUT crops of a folder
    # never train; evaluation reads them (held-out real accuracy). REAL_HELDOUT holds one
    # count per folder, or one count for every folder; empty: none held out.
    _C.INPUT.WORD_CROPS.REAL_FOLDERS = ()
    _C.INPUT.WORD_CROPS.REAL_RATIO = 0.5
    _C.INPUT.WORD_CROPS.REAL_HELDOUT = ()
    # RecognitionPretrainer on a trained spotter: keep its backbone as it is (weights and
    # BatchNorm statistics), so that only the recognizer learns and detection is unchanged.
    _C.MODEL.REC_PRETRAIN = CN()
    _C.MODEL.REC_PRETRAIN.FREEZE_BACKBONE = False

    # --- Streamed synthetic data (DATASETS.TRAIN = ("synth_stream",)) -------------------------
    # Fresh scenes of the synthetic generator, deterministic per seed, rank and worker, drawn
    # with the generator's defaults (dld_spotter.data.synth.SynthConfig) except for these.
    _C.DATASETS.STREAM_SEED = 0
    _C.DATASETS.STREAM_SYNTH = CN()
    _C.DATASETS.STREAM_SYNTH.MIN_WORDS = 2
    _C.DATASETS.STREAM_SYNTH.MAX_WORDS = 8
    _C.DATASETS.STREAM_SYNTH.SMALL_TEXT_PROB = 0.3
    _C.DATASETS.STREAM_SYNTH.LARGE_TEXT_PROB = 0.3
    _C.DATASETS.STREAM_SYNTH.MAX_ROTATION = 20.0
    _C.DATASETS.STREAM_SYNTH.PERSPECTIVE_PROB = 0.3
    _C.DATASETS.STREAM_SYNTH.CURVED_PROB = 0.15
    # Closer to photographs: folders of text-free photographs (relative to $DLD_DATASETS
    # unless absolute) as the background of PHOTO_BACKGROUND_PROB of the scenes, more fonts
    # (folders of .ttf/.otf), and DEGRADE: synth.REAL_DEGRADATIONS (low contrast, lighting and
    # shadow, motion blur, JPEG).
    _C.DATASETS.STREAM_SYNTH.BACKGROUND_DIRS = ()
    _C.DATASETS.STREAM_SYNTH.PHOTO_BACKGROUND_PROB = 0.5
    _C.DATASETS.STREAM_SYNTH.FONT_DIRS = ()
    _C.DATASETS.STREAM_SYNTH.DEGRADE = False

    # --- Training data mix (§4.1: IC13/IC15/MLT17/Total-Text) --------------------------------
    # One sampling ratio per DATASETS.TRAIN entry (probability of a set = ratio / sum);
    # empty = detectron2's concatenation (each image equally likely).
    _C.DATASETS.TRAIN_RATIOS = ()
    # One base resolution S per DATASETS.TRAIN entry (needs TRAIN_RATIOS) / DATASETS.TEST entry,
    # so that one model trains and tests every set of a mix at its own S (§4.1: S-768 for IC13,
    # S-1280 for IC15, S-896 for Total-Text); MAX_SIZE_* scale with it. Empty = MIN_SIZE_*.
    _C.DATASETS.TRAIN_BASE_SIZES = ()
    _C.DATASETS.TEST_BASE_SIZES = ()

    # --- Optimizer (§4.1: AdamW, step decay) --------------------------------------------------
    _C.SOLVER.OPTIMIZER = "AdamW"  # or "SGD" (detectron2's default behaviour)
    # The recognizer's learning rate is BASE_LR times this (and follows the same schedule).
    _C.SOLVER.REC_LR_FACTOR = 1.0

    # --- Evaluation ---------------------------------------------------------------------------
    _C.TEST.TEXT = CN()
    # Detections whose recognition score is below this are dropped before end-to-end scoring.
    _C.TEST.TEXT.REC_SCORE_THRESH = 0.0
    # Protocol preset (dld_spotter/evaluation/presets.py): "ic13", "ic15", "totaltext" or
    # "plain"; "" = the data set's metadata "protocol", else guessed from its name.
    _C.TEST.TEXT.PROTOCOL = ""
    # Lexicon modes to report (none/strong/weak/generic/full); empty = the preset's.
    _C.TEST.TEXT.LEXICON_MODES = []
    # Lexicon files (one word per line) of the weak / generic / full modes; "" = the data
    # set's metadata "lexicons" entry. "full" falls back to the union of per-image lexicons.
    _C.TEST.TEXT.LEXICONS = CN()
    _C.TEST.TEXT.LEXICONS.WEAK = ""
    _C.TEST.TEXT.LEXICONS.GENERIC = ""
    _C.TEST.TEXT.LEXICONS.FULL = ""
    # Matching IoU (strictly above): 0.5 (RRC); 0.1 for the paper's MANGO comparison.
    _C.TEST.TEXT.IOU_THRESHOLD = 0.5
    # Pairing of detections and ground truths: "official" (the RRC scripts: geometry first, in
    # file order, then the text is judged) or "best" (correct readings first, then highest IoU).
    _C.TEST.TEXT.MATCHING = "official"
    # Lexicon correction: the nearest word replaces a reading when edit distance /
    # max(len(reading), len(word)) <= this; 1.0 = always (as published lexicon results).
    _C.TEST.TEXT.LEXICON_MAX_DISTANCE = 1.0
    # A reading with no lexicon word that close: scored as read (False) or left out of that
    # lexicon mode (True: the lexicon is the list of allowed answers).
    _C.TEST.TEXT.LEXICON_DROP_UNMATCHED = False
    # Recognition-score threshold of the lexicon modes (strong, weak, generic, full); < 0: the
    # lexicon-free REC_SCORE_THRESH.
    _C.TEST.TEXT.LEXICON_REC_SCORE_THRESH = -1.0
    # Word-spotting don't-care rule in the end-to-end task too (AdelaiDet's Total-Text numbers);
    # False = Mask TextSpotter's convention, the one the paper compares with.
    _C.TEST.TEXT.E2E_WORD_SPOTTING = False
    # Cost metrics of every evaluation: FLOPs averaged over this many images (0 = skip), and
    # speed as the median time of SPEED_IMAGES images after SPEED_WARMUP untimed ones. A model
    # with a resolution selector (its cost varies per image) reports means over every test
    # image instead: FLOPs from a per-scale table measured on FLOPS_IMAGES images at each
    # image's chosen scale, plus the selector's; model_metrics.json says which statistic.
    _C.TEST.TEXT.FLOPS_IMAGES = 5
    _C.TEST.TEXT.SPEED_IMAGES = 20
    _C.TEST.TEXT.SPEED_WARMUP = 2
    # Recognition accuracy on ground-truth boxes (Table 8's "Rec") in every evaluation.
    _C.TEST.TEXT.REC_ACCURACY = True
    # Held-out word crops (a stream seed no training stream uses) on which a
    # RecognitionPretrainer is evaluated: greedy word accuracy.
    _C.TEST.TEXT.HELDOUT_CROPS = 300


def add_dld_config(cfg: CN) -> None:
    """Add the keys of Dynamic Low-resolution Distillation (``MODEL.DLD``: §3.3-3.5;
    MODEL.META_ARCHITECTURE "DLDSpotter") to ``cfg``, in place."""
    _C = cfg
    _C.MODEL.DLD = CN()
    # The spotter that DLD wraps (a META_ARCHITECTURE name): the student is built from this
    # config with it; any spotter with the distillation interface of
    # dld_spotter/modeling/text_spotter.py (TextSpotter and its subclasses) can be wrapped.
    _C.MODEL.DLD.BASE_ARCHITECTURE = "TextSpotter"
    # The distillers (DISTILLER_REGISTRY, dld_spotter/distill/distillers.py) whose losses the
    # student trains on, each with its weights below: "SKD" (Eq. 7-10, the paper's), and
    # Table 3's baselines "DecoderKD" (Bhunia et al.: LOGITS/HINT/ATTENTION/AFFINITY_WEIGHT)
    # and "AlignedFeatureKD" (Qi et al.: DET_FEATURE_WEIGHT).
    _C.MODEL.DLD.DISTILLERS = ("SKD",)
    # Candidate scales s_1..s_k of the student, relative to the input (teacher) resolution.
    _C.MODEL.DLD.SCALES = (0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
    # > 0: always run the student at this scale, with no selector (SKD-only, ablations);
    # 0: the selector picks a scale per image.
    _C.MODEL.DLD.FIXED_SCALE = 0.0
    _C.MODEL.DLD.TEACHER = CN()
    # The frozen high-resolution teacher: its own config file and checkpoint (a TextSpotter).
    # The student usually starts from the same checkpoint (MODEL.WEIGHTS).
    _C.MODEL.DLD.TEACHER.CONFIG = ""
    _C.MODEL.DLD.TEACHER.WEIGHTS = ""
    _C.MODEL.DLD.DRS = CN()
    # The resolution selector (SELECTOR_REGISTRY, dld_spotter/modeling/selector.py) used when
    # FIXED_SCALE is 0.
    _C.MODEL.DLD.DRS.NAME = "GumbelResolutionSelector"
    # The selector sees the image resized to THUMBNAIL_SIZE x THUMBNAIL_SIZE.
    _C.MODEL.DLD.DRS.THUMBNAIL_SIZE = 224
    # Channels of the stem and of the four residual stages (10 convolutions in all).
    _C.MODEL.DLD.DRS.STEM_CHANNELS = 16
    _C.MODEL.DLD.DRS.STAGE_CHANNELS = (16, 32, 64, 128)
    # No normalisation by default: the selector must work with one image per GPU.
    _C.MODEL.DLD.DRS.NORM = ""
    # Gumbel-softmax temperature tau = TAU_INIT * TAU_DECAY ** epoch (§3.3).
    _C.MODEL.DLD.DRS.TAU_INIT = 5.0
    _C.MODEL.DLD.DRS.TAU_DECAY = 0.965
    # Images per epoch of that schedule; 0 = the training set's size (the paper's epoch).
    _C.MODEL.DLD.DRS.EPOCH_IMAGES = 0
    _C.MODEL.DLD.DRS.FLOPS_WEIGHT = 0.1  # gamma of Eq. 4
    # Eq. 2's KL(sum_i h_i y_si, y): "mixture_teacher" = KL(mixture || teacher), the order
    # the paper writes; "teacher_mixture" = KL(teacher || mixture).
    _C.MODEL.DLD.DRS.KL_DIRECTION = "mixture_teacher"
    # Eq. 2's mean over a batch: "step" = over all its scored decoding steps (images with
    # many words weigh more); "image" = over each image's steps first, then over the images,
    # as Eq. 3's L_flops (each image's scale decision weighs once against its cost).
    _C.MODEL.DLD.DRS.ACC_MEAN = "step"
    # The selector's gradient: "gumbel" = through the Gumbel-softmax sample h (§3.3);
    # "expectation" = through the exact expectation of Eq. 4 over its probabilities p,
    # sum_i p_i (L_acc at s_i + gamma T_i), which every step computes anyway (the student
    # runs at every scale) and which has no sampling noise. The student still trains at the
    # scale of the Gumbel sample either way.
    _C.MODEL.DLD.DRS.ESTIMATOR = "gumbel"
    # The precision of the student's no-graph pass at every candidate scale, whose y_si only
    # L_acc reads: "float32", or "bfloat16" / "float16" under autocast (the scales' backbone
    # and recognizer passes, ~1.5x faster on CPUs with AMX or AVX512-BF16 and on GPUs with
    # bf16 tensor cores, slower on CPUs without; y_si then differ by ~1e-4 on average:
    # docs/benchmarks/dld_step.md). The student's and the teacher's passes stay as they are.
    _C.MODEL.DLD.DRS.ACC_DTYPE = "float32"
    # Weights the selector starts from (tools/train_selector.py: pre-trained on the text-size
    # rule); empty: from scratch, as §3.3. Loaded after MODEL.WEIGHTS, on a new run only.
    _C.MODEL.DLD.DRS.WEIGHTS = ""
    _C.MODEL.DLD.DRS.LOSS_WEIGHT = 1.0  # lambda_2 of Eq. 11
    # The selector's learning rate is SOLVER.BASE_LR times this: it starts from scratch while
    # the student it steers fine-tunes from the teacher (§4.1 trains both at one rate).
    # 0 freezes a pre-trained selector (DRS.WEIGHTS; not the paper's joint training): it
    # runs in eval mode (BN statistics fixed), Eq. 4 is not computed, and each training
    # image goes to its most probable scale, as at test.
    _C.MODEL.DLD.DRS.LR_FACTOR = 1.0
    # Average forward FLOPs T_i per candidate scale (in FLOPs; any unit with FLOPS_UNIT "max").
    # Empty: measured with fvcore on FLOPS_NUM_IMAGES training images when training starts.
    _C.MODEL.DLD.DRS.FLOPS = []
    # The unit of T_i in Eq. 3, which the paper does not give: "max" = the largest T_i (L_flops
    # in [0, 1] for any model); "gflops" = GFLOPs, the paper's tables' unit (L_flops then grows
    # with the model: ~2.6 for the tiny spotter at 0.8, ~100 for a ResNet-50 at S-1280, which
    # with the paper's gamma 0.1 would outweigh L_acc's KL by far).
    _C.MODEL.DLD.DRS.FLOPS_UNIT = "max"
    _C.MODEL.DLD.DRS.FLOPS_NUM_IMAGES = 4
    _C.MODEL.DLD.SKD = CN()
    # Weights of Eq. 10-11; 0 switches a loss off (Table 2).
    _C.MODEL.DLD.SKD.LOSS_WEIGHT = 1.0  # lambda_3
    _C.MODEL.DLD.SKD.ROI_WEIGHT = 1.0  # L_roi
    _C.MODEL.DLD.SKD.CON_WEIGHT = 1.0  # eta_1, L_con
    _C.MODEL.DLD.SKD.SEQ_WEIGHT = 1.0  # eta_2, L_seq
    # L_seq trains on the TOP_K best of the teacher's beam search of width BEAM_WIDTH
    # (§3.4: a top-3 beam search, then K = 1).
    _C.MODEL.DLD.SKD.BEAM_WIDTH = 3
    _C.MODEL.DLD.SKD.TOP_K = 1
    # Eq. 9 is a per-sequence negative log-probability ("sequence", averaged over RoIs);
    # "character" divides it by the number of scored characters instead.
    _C.MODEL.DLD.SKD.SEQ_LOSS_PER = "sequence"
    # L_seq on "all" words (the paper), or only those the teacher "read": whose best beam is
    # the ground truth, so that the student is not taught the teacher's misreadings.
    _C.MODEL.DLD.SKD.SEQ_WORDS = "all"
    # L_roi compares the "pooled" RoI features (Eq. 7), or them "normalized" per RoI as a
    # recognizer with REC_HEAD.INSTANCE_NORM reads them.
    _C.MODEL.DLD.SKD.ROI_FEATURES = "pooled"
    # Logits distillation baseline (Table 3): per-step KL to the teacher's distributions.
    _C.MODEL.DLD.SKD.LOGITS_WEIGHT = 0.0
    # Bhunia et al.'s other three recognition KD losses (Table 3, with LOGITS_WEIGHT): the
    # character-localised hint (glimpses), attention maps, and affinities between characters.
    _C.MODEL.DLD.SKD.HINT_WEIGHT = 0.0
    _C.MODEL.DLD.SKD.ATTENTION_WEIGHT = 0.0
    _C.MODEL.DLD.SKD.AFFINITY_WEIGHT = 0.0
    # Qi et al.'s detection KD (Table 3): the student's FPN levels (at FIXED_SCALE 0.5, through
    # 1x1 adapters) against the teacher's levels of the same size.
    _C.MODEL.DLD.SKD.DET_FEATURE_WEIGHT = 0.0


# Keys whose values are lists of numbers but whose default is empty (so that the default does
# not say what their elements are).
NUMBER_LISTS = ("DATASETS.TRAIN_RATIOS", "DATASETS.TRAIN_BASE_SIZES", "DATASETS.TEST_BASE_SIZES",
                "INPUT.WORD_CROPS.REAL_HELDOUT",
                "MODEL.DLD.DRS.FLOPS", "MODEL.REC_HEAD.DECONV_FROM")


def _leaves(value):
    """The non-list elements of a (nested) list or tuple."""
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_number_lists(cfg: CN, defaults: CN, source: str, prefix: str = "") -> None:
    """Raise ``ValueError`` naming the key and ``source`` when a list whose default holds
    numbers (or a key of :data:`NUMBER_LISTS`) holds something else, e.g.
    ``MODEL.DLD.SCALES: [0.8, "0.5"]``: yacs checks the type of a list, not of its elements,
    and the model would fail far from the config with a ``TypeError``."""
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        default = defaults.get(key) if isinstance(defaults, CN) else None
        if isinstance(value, CN):
            check_number_lists(value, default, source, f"{name}.")
            continue
        if not isinstance(value, (list, tuple)):
            continue
        expected = _leaves(default) if isinstance(default, (list, tuple)) else []
        numeric = name in NUMBER_LISTS or (expected and all(_is_number(v) for v in expected))
        bad = [v for v in _leaves(value) if not _is_number(v)] if numeric else []
        if bad:
            raise ValueError(
                f"{source}: {name} {value!r} must hold numbers, but {bad[0]!r} is a "
                f"{type(bad[0]).__name__}" + (" (write it without quotes)"
                                              if isinstance(bad[0], str) else "")
            )


def _defaults() -> CN:
    cfg = get_cfg()
    add_text_spotter_config(cfg)
    add_dld_config(cfg)
    return cfg


def load_config(config_file: str = "", opts: Sequence[str] = ()) -> CN:
    """detectron2's defaults + :func:`add_text_spotter_config` + :func:`add_dld_config`, then
    ``config_file`` and ``opts``.

    Raises:
        FileNotFoundError: ``config_file`` does not exist.
        KeyError: ``config_file`` sets a key no config has (the message names the file and
            the key).
        AssertionError: ``opts`` set a key no config has, or are not key-value pairs (yacs
            checks them with assertions; the message names the opts and the key).
        ValueError: a value of ``opts`` (or of ``config_file``) has the wrong type for its key,
            or a list of numbers holds something else (:func:`check_number_lists`); the
            message names the key and the file (or the opts).
    """
    cfg = _defaults()
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
        except ValueError as e:  # yacs: a value of the wrong type for its key
            raise ValueError(f"{config_file}: {e}") from e
        check_number_lists(cfg, _defaults(), config_file)
    try:
        cfg.merge_from_list(list(opts))
    except (KeyError, AssertionError, ValueError) as e:
        hint = (" (a float key's value needs a decimal point, e.g. 10.0 for 10)"
                if "<class 'float'> vs. <class 'int'>" in str(e) else "")
        raise type(e)(f"command-line opts {list(opts)}: {e}{hint}") from e
    if opts:
        check_number_lists(cfg, _defaults(), f"command-line opts {list(opts)}")
    return cfg


def resolve_device(cfg: CN, opts: Sequence[str] = ()) -> CN:
    """``cfg``, or a copy of it on the CPU when it asks for CUDA and CUDA is not available;
    a ``MODEL.DEVICE`` given in ``opts`` (the command line) is kept as it is.

    Entry points call it once their config is complete (``train_net.py`` after writing
    ``config.yaml``, which keeps the configured device).
    """
    explicit = "MODEL.DEVICE" in list(opts)[0::2]
    if explicit or not cfg.MODEL.DEVICE.startswith("cuda") or torch.cuda.is_available():
        return cfg
    logger.info(f"MODEL.DEVICE is {cfg.MODEL.DEVICE!r} but CUDA is not available: running on "
                "the CPU (pass MODEL.DEVICE on the command line to insist)")
    frozen = cfg.is_frozen()
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.DEVICE = "cpu"
    if frozen:
        cfg.freeze()
    return cfg
