"""The paper configurations (configs/teacher, configs/dld) read against §4.1 and the tables:
each ablation changes exactly its own keys, schedules are 50 epochs with the LR divided at
epochs 30 and 40, no warm-up, the base resolution S is the shorter side of every image of the
data set, and recognition reads the same FPN level in teacher and student."""
import glob
import math
import os

import pytest
from detectron2.data.transforms import ResizeShortestEdge
from testing import REPO

from dld_spotter.config import load_config
from dld_spotter.data.transforms import build_text_test_augmentation

CONFIGS = os.path.join(REPO, "configs")
DATASETS = ("ic13", "ic15", "totaltext")
PAPER_FILES = sorted(os.path.relpath(p, CONFIGS) for p in
                     glob.glob(os.path.join(CONFIGS, "teacher", "*.yaml"))
                     + glob.glob(os.path.join(CONFIGS, "dld", "**", "*.yaml"), recursive=True))
# Training images of the benchmarks (ICDAR2013: 229, ICDAR2015: 1 000, Total-Text: 1 255) and
# their (height, width) shapes: IC15 is all 720x1280; IC13 and Total-Text mix 4:3, 3:2 and
# 16:9 photographs in both orientations (aspect ratio at most 2 covers them).
TRAIN_IMAGES = {"ic13": 229, "ic15": 1000, "totaltext": 1255}
SHAPES = {"ic15": [(720, 1280)],
          "ic13": [(960, 1280), (1280, 960), (864, 1296), (720, 1280), (640, 1280)],
          "totaltext": [(750, 1000), (1000, 750), (720, 1280), (600, 1200), (1200, 600)]}

# ablation: (its reference, the keys it changes besides OUTPUT_DIR)
REFERENCES = {}
for d in DATASETS:
    dld = f"dld/{d}"
    REFERENCES.update({
        f"{dld}/dld_gamma0.1.yaml": (f"{dld}/Base.yaml", set()),
        **{f"{dld}/dld_gamma0.{g}.yaml": (f"{dld}/dld_gamma0.1.yaml",
                                          {"MODEL.DLD.DRS.FLOPS_WEIGHT"}) for g in (2, 3, 4, 5)},
        **{f"{dld}/drs_only_gamma0.{g}.yaml": (f"{dld}/dld_gamma0.{g}.yaml",
                                               {"MODEL.DLD.SKD.LOSS_WEIGHT"}) for g in (1, 3)},
        f"{dld}/skd_only.yaml": (f"{dld}/dld_gamma0.1.yaml", {"MODEL.DLD.FIXED_SCALE"}),
        f"{dld}/vanilla_H.yaml": (f"teacher/{d}_R50_FPN.yaml", {"MODEL.WEIGHTS"}),
        f"{dld}/vanilla_L.yaml": (f"{dld}/vanilla_H.yaml",
                                  {"INPUT.MIN_SIZE_TEST", "INPUT.MAX_SIZE_TEST"}),
    })
ABL = "dld/totaltext/ablations"
SKD = "MODEL.DLD.SKD."
SKD_ONLY = "dld/totaltext/skd_only.yaml"
DISTILLERS = "MODEL.DLD.DISTILLERS"
REFERENCES.update({
    **{f"{ABL}/scales_{s}.yaml": ("dld/totaltext/dld_gamma0.1.yaml", {"MODEL.DLD.SCALES"})
       for s in ("0.5-0.3", "0.8-0.6")},
    **{f"{ABL}/tau_init{t}.yaml": ("dld/totaltext/dld_gamma0.1.yaml", {"MODEL.DLD.DRS.TAU_INIT"})
       for t in (1, 3, 7, 9)},
    # Table 2: one SKD loss each; the no-loss row is Vanilla L itself.
    f"{ABL}/skd_roi.yaml": (SKD_ONLY, {SKD + "CON_WEIGHT", SKD + "SEQ_WEIGHT"}),
    f"{ABL}/skd_con.yaml": (SKD_ONLY, {SKD + "ROI_WEIGHT", SKD + "SEQ_WEIGHT"}),
    f"{ABL}/skd_seq.yaml": (SKD_ONLY, {SKD + "ROI_WEIGHT", SKD + "CON_WEIGHT"}),
    f"{ABL}/skd_none.yaml": ("dld/totaltext/vanilla_L.yaml", set()),
    f"{ABL}/skd_logits.yaml": (SKD_ONLY, {DISTILLERS, SKD + "SEQ_WEIGHT", SKD + "LOGITS_WEIGHT"}),
    # Table 3: the other distillation methods, in SKD-only's setting.
    f"{ABL}/kd_bhunia.yaml": (SKD_ONLY, {DISTILLERS} | {SKD + k for k in (
        "ROI_WEIGHT", "CON_WEIGHT", "SEQ_WEIGHT", "LOGITS_WEIGHT", "HINT_WEIGHT",
        "ATTENTION_WEIGHT", "AFFINITY_WEIGHT")}),
    f"{ABL}/kd_qi.yaml": (SKD_ONLY, {DISTILLERS} | {SKD + k for k in (
        "ROI_WEIGHT", "CON_WEIGHT", "SEQ_WEIGHT", "DET_FEATURE_WEIGHT")}),
    f"{ABL}/skd_qi.yaml": (SKD_ONLY, {DISTILLERS, SKD + "DET_FEATURE_WEIGHT"}),
    # Table 4: the RoI size only (the student also starts from, and distils, that teacher).
    f"{ABL}/teacher_roi16x64.yaml": ("teacher/totaltext_R50_FPN.yaml",
                                     {"MODEL.REC_HEAD.POOLER_RESOLUTION"}),
    f"{ABL}/dld_roi16x64.yaml": ("dld/totaltext/dld_gamma0.1.yaml", {
        "MODEL.REC_HEAD.POOLER_RESOLUTION", "MODEL.WEIGHTS", "MODEL.DLD.TEACHER.CONFIG",
        "MODEL.DLD.TEACHER.WEIGHTS"}),
    f"{ABL}/dld_roi8x32_deconv.yaml": (f"{ABL}/dld_roi16x64.yaml",
                                       {"MODEL.REC_HEAD.DECONV_FROM"}),
})


def load(name):
    return load_config(os.path.join(CONFIGS, name))


def flat(cfg, prefix=""):
    out = {}
    for k, v in cfg.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


def dataset_of(name):
    return next(d for d in DATASETS if f"/{d}" in f"/{name}".replace("_R50", "/"))


def test_every_paper_config_is_listed_with_its_reference():
    ablations = {n for n in PAPER_FILES if n.startswith("dld/") and not n.endswith("Base.yaml")
                 and "Base-" not in n}
    assert ablations == set(REFERENCES)


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_each_ablation_changes_exactly_its_keys(name):
    reference, keys = REFERENCES[name]
    ours, theirs = flat(load(name)), flat(load(reference))
    changed = {k for k in ours if ours[k] != theirs[k]} - {"OUTPUT_DIR"}
    assert changed == keys


@pytest.mark.parametrize("name", PAPER_FILES)
def test_recognition_reads_the_stride_4_level(name):
    assert list(load(name).MODEL.REC_HEAD.IN_FEATURES) == ["p2"]


@pytest.mark.parametrize("d", DATASETS)
def test_student_schedule_is_50_epochs_divided_at_30_and_40_without_warmup(d):
    cfg = load(f"dld/{d}/Base.yaml")
    per_epoch = TRAIN_IMAGES[d] / cfg.SOLVER.IMS_PER_BATCH
    assert cfg.SOLVER.MAX_ITER == math.ceil(50 * per_epoch)
    assert tuple(cfg.SOLVER.STEPS) == (round(30 * per_epoch), round(40 * per_epoch))
    assert cfg.SOLVER.WARMUP_ITERS == 0
    assert cfg.SOLVER.BASE_LR == 1e-3 and cfg.SOLVER.GAMMA == 0.1


@pytest.mark.parametrize("name", [n for n in PAPER_FILES if "Base-" not in n])
def test_base_resolution_is_the_shorter_side_of_every_image(name):
    """``MIN_SIZE`` (S, or S/2 for Vanilla L) is what every image of the set gets: the
    ``MAX_SIZE`` cap never binds (it did: IC15 at 1260 instead of 1280)."""
    cfg = load(name)
    teacher = load(f"teacher/{dataset_of(name)}_R50_FPN.yaml")
    s = teacher.INPUT.MIN_SIZE_TEST
    expected = s // 2 if name.endswith("vanilla_L.yaml") or name.endswith("skd_none.yaml") else s
    assert cfg.INPUT.MIN_SIZE_TEST == expected
    assert cfg.INPUT.MIN_SIZE_TRAIN[-1] == s
    for h, w in SHAPES[dataset_of(name)]:
        test = ResizeShortestEdge.get_output_shape(h, w, cfg.INPUT.MIN_SIZE_TEST,
                                                   cfg.INPUT.MAX_SIZE_TEST)
        train = ResizeShortestEdge.get_output_shape(h, w, cfg.INPUT.MIN_SIZE_TRAIN[-1],
                                                    cfg.INPUT.MAX_SIZE_TRAIN)
        assert min(test) == expected and min(train) == s, (h, w)


MIX_IMAGES = 7000 + 229 + 1000 + 1255  # filtered MLT17 (§4.1: "7k") + the three training sets
PIPELINE = ("paper/pretrain_synthtext_R50_FPN.yaml", "paper/teacher_mix_R50_FPN.yaml",
            "paper/dld_mix_gamma0.1.yaml")


def test_the_papers_pipeline_teacher_and_student_share_the_mix_and_test_at_each_s():
    """§4.1: pre-train on SynthText, fine-tune on the mix, distil one student on the same mix,
    test it on the three benchmarks, each at the S of its own teacher config."""
    pretrain, teacher, student = (load(n) for n in PIPELINE)
    assert pretrain.DATASETS.TRAIN == ("synthtext",)
    assert teacher.MODEL.WEIGHTS == os.path.join(pretrain.OUTPUT_DIR, "model_final.pth")
    assert student.MODEL.DLD.TEACHER.CONFIG == "configs/" + PIPELINE[1]
    assert student.MODEL.WEIGHTS == student.MODEL.DLD.TEACHER.WEIGHTS == os.path.join(
        teacher.OUTPUT_DIR, "model_final.pth")
    for key in ("TRAIN", "TRAIN_RATIOS", "TRAIN_BASE_SIZES", "TEST", "TEST_BASE_SIZES"):
        assert teacher.DATASETS[key] == student.DATASETS[key], key
    for key in ("MIN_SIZE_TRAIN", "MAX_SIZE_TRAIN", "MIN_SIZE_TEST", "MAX_SIZE_TEST"):
        assert teacher.INPUT[key] == student.INPUT[key], key
    assert student.MODEL.META_ARCHITECTURE == "DLDSpotter"
    assert tuple(student.INPUT.TEXT_AUG.SCALE_RANGE) == (1.0, 1.0)
    per_epoch = MIX_IMAGES / teacher.SOLVER.IMS_PER_BATCH
    for cfg in (teacher, student):
        assert cfg.SOLVER.MAX_ITER == math.ceil(50 * per_epoch)
        assert tuple(cfg.SOLVER.STEPS) == (round(30 * per_epoch), round(40 * per_epoch))
        assert cfg.SOLVER.WARMUP_ITERS == 0
    test_sizes = dict(zip(teacher.DATASETS.TEST, teacher.DATASETS.TEST_BASE_SIZES))
    train_sizes = dict(zip(teacher.DATASETS.TRAIN, teacher.DATASETS.TRAIN_BASE_SIZES))
    for d in DATASETS:
        s = load(f"teacher/{d}_R50_FPN.yaml").INPUT.MIN_SIZE_TEST
        assert test_sizes[f"{d}_test"] == train_sizes[f"{d}_train"] == s
        resize = build_text_test_augmentation(teacher, s)[0]
        for h, w in SHAPES[d]:
            assert min(resize.get_output_shape(h, w, resize.short_edge_length[0],
                                               resize.max_size)) == s, (d, h, w)
    assert all(list(load(n).MODEL.REC_HEAD.IN_FEATURES) == ["p2"] for n in PIPELINE)


@pytest.mark.parametrize("name", [n for n in PAPER_FILES if n.startswith("dld/")]
                         + sorted(os.path.relpath(p, CONFIGS) for p in
                                  glob.glob(os.path.join(CONFIGS, "*", "dld_*.yaml"))))
def test_every_dld_config_builds_its_selector_and_distillers(name):
    """Each DLD config's resolution part and the distillers that its loss weights switch on
    (without building its spotter: the shapes of an FPN of p2-p6)."""
    from detectron2.layers import ShapeSpec

    from dld_spotter.distill.distillers import build_distillers
    from dld_spotter.modeling.selector import FixedResolution, build_resolution_selector

    cfg = load_config(os.path.join(CONFIGS, name))
    selector = build_resolution_selector(cfg)
    assert isinstance(selector, FixedResolution) == (cfg.MODEL.DLD.FIXED_SCALE > 0)
    shapes = {f"p{k}": ShapeSpec(channels=cfg.MODEL.FPN.OUT_CHANNELS, stride=2**k)
              for k in range(2, 7)}
    distillers = build_distillers(cfg, shapes)
    assert set(distillers) <= set(cfg.MODEL.DLD.DISTILLERS)
    on = {k for d in distillers.values() for k in d.weights}
    skd, named = cfg.MODEL.DLD.SKD, cfg.MODEL.DLD.DISTILLERS
    assert ("loss_seq" in on) == (skd.LOSS_WEIGHT * skd.SEQ_WEIGHT > 0 and "SKD" in named)
    assert ("loss_det_feature" in on) == (skd.LOSS_WEIGHT * skd.DET_FEATURE_WEIGHT > 0)


def test_the_real_student_reads_as_its_teacher():
    """configs/real/dld_tiny_real.yaml evaluates with its teacher's thresholds, lexicon rules
    and test size (the student is measured against it on the same terms)."""
    student = load_config(os.path.join(CONFIGS, "real", "dld_tiny_real.yaml"))
    assert student.MODEL.DLD.TEACHER.CONFIG == "configs/real/teacher_tiny_real.yaml"
    teacher = load_config(os.path.join(REPO, student.MODEL.DLD.TEACHER.CONFIG))
    def inference(cfg):
        return (cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST, cfg.MODEL.ROI_HEADS.CONTAINMENT_THRESH_TEST,
                cfg.MODEL.REC_HEAD.SCORE_THRESH_TEST, cfg.INPUT.MIN_SIZE_TEST,
                cfg.INPUT.MAX_SIZE_TEST)

    assert inference(student) == inference(teacher)
    assert student.TEST.TEXT == teacher.TEST.TEXT
