"""DLDSpotter end to end: the two gradient paths, L_acc, inference in original coordinates,
the FLOPs table, the teacher (frozen, outside checkpoints, clear errors), 2-process training."""
import math
import os

import cv2
import pytest
import torch
import torch.nn.functional as F
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultPredictor
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances, PolygonMasks
from detectron2.utils.env import seed_all_rng
from detectron2.utils.events import EventStorage
from testing import (
    REPO,
    load_tool,
    run_train_net,
    tiny_opts,
    training_batches,
    with_synth_root,
)

from dld_spotter.charset import IGNORE
from dld_spotter.checkpoint import load_strict
from dld_spotter.config import load_config
from dld_spotter.data.mapper import TextDatasetMapper
from dld_spotter.data.stream import text_heights
from dld_spotter.distill import build_teacher, read_correctly
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.engine.hooks import (
    ScaleFlopsHook,
    TeacherHook,
    TemperatureHook,
    build_dld_hooks,
)
from dld_spotter.evaluation.cost import measure_scale_flops, measure_selector_flops
from dld_spotter.evaluation.model_metrics import dynamic_cost
from dld_spotter.modeling import DLDSpotter
from dld_spotter.modeling.dld import image_of_roi
from dld_spotter.modeling.drs import (
    DynamicResolutionSelector,
    gumbel_softmax_sample,
    smallest_legible_scale,
)
from dld_spotter.modeling.rescale import scale_instances
from dld_spotter.modeling.selector import FixedResolution

DLD_CONFIG = os.path.join(REPO, "configs/synth/dld_tiny.yaml")
DRS_OPTS = ["MODEL.DLD.DRS.THUMBNAIL_SIZE", "32", "MODEL.DLD.DRS.FLOPS", "[6, 5, 4, 3, 2, 1]"]
# The student's y_si in float32 (dld_tiny.yaml: bf16), for tests whose premise is that a copy of
# the teacher at the teacher's scale has L_acc exactly 0: in bf16 it is ~1e-4, which on an
# untrained tiny model is as large as the gap to the other scale.
EXACT_ACC = ["MODEL.DLD.DRS.ACC_DTYPE", "float32"]


@pytest.fixture(scope="module")
def teacher_files(synth_dataset, tmp_path_factory):
    """A tiny (untrained) teacher: its config file and checkpoint.

    Untrained BN statistics give denormal activations in eval mode, which make CPU convs
    several times slower: flush them to zero while these tests run.
    """
    torch.set_flush_denormal(True)
    folder = tmp_path_factory.mktemp("teacher")
    cfg = load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                      tiny_opts(synth_dataset, folder))
    torch.manual_seed(0)
    model = build_model(cfg)
    with EventStorage():  # a step so that BN statistics are not the defaults
        sum(model(training_batches(cfg, 1)[0]).values())
    DetectionCheckpointer(model, save_dir=str(folder)).save("teacher")
    config = folder / "teacher.yaml"
    config.write_text(cfg.dump())
    yield str(config), str(folder / "teacher.pth")
    torch.set_flush_denormal(False)


def dld_cfg_opts(synth_dataset, teacher_files, output_dir, *extra):
    config, weights = teacher_files
    return tiny_opts(synth_dataset, output_dir, "MODEL.DLD.TEACHER.CONFIG", config,
                     "MODEL.DLD.TEACHER.WEIGHTS", weights, "MODEL.WEIGHTS", weights,
                     *DRS_OPTS, *extra)


def dld_cfg(synth_dataset, teacher_files, output_dir, *extra):
    return load_config(DLD_CONFIG, dld_cfg_opts(synth_dataset, teacher_files, output_dir,
                                                *extra))


def dld_model(cfg, teacher_files):
    torch.manual_seed(0)
    model = build_model(cfg)
    DetectionCheckpointer(model).load(cfg.MODEL.WEIGHTS)
    model.set_teacher(build_teacher(*teacher_files, "cpu"))
    return model.train()


def grads(params):
    return [p.grad for p in params if p.grad is not None and p.grad.abs().sum() > 0]


TABLE3_DISTILLERS = ("SKD", "DecoderKD", "AlignedFeatureKD")


def drs_losses(model, h, log_p, batch, images, rois, targets):
    """The selector's Eq. 4 losses of ``h`` / ``log_p`` on the batch's ground-truth words."""
    teacher = model._teacher_view(batch, rois, targets)
    return model.selector.losses(h, log_p, model._probs_at_every_scale(images, rois, targets),
                                 teacher.probs, targets, image_of_roi(rois, model.device))


def teacher_beams(model, batch, rois, targets):
    """The beams that the model's SKD distiller trains L_seq on."""
    return model.distillers["SKD"].teacher_beams(model._teacher_view(batch, rois, targets))


def test_selector_learns_only_from_l_drs_and_the_student_only_from_the_rest(
        synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path)
    model = dld_model(cfg, teacher_files)
    assert isinstance(model, DLDSpotter)
    selector = list(model.selector.parameters())
    student = [p for n, p in model.named_parameters() if not n.startswith("selector.")]
    with EventStorage():
        losses = model(training_batches(cfg, 1)[0])
    assert {"loss_acc", "loss_flops", "loss_roi", "loss_con", "loss_seq", "loss_rec",
            "loss_mask"} <= set(losses)
    drs = losses["loss_acc"] + losses["loss_flops"]
    rest = sum(v for k, v in losses.items() if k not in ("loss_acc", "loss_flops"))
    drs.backward(retain_graph=True)
    assert len(grads(selector)) == len(selector)
    assert grads(student) == []
    model.zero_grad(set_to_none=True)
    rest.backward()
    assert grads(selector) == []
    assert len(grads(student)) > 0.8 * len(student)


@pytest.mark.parametrize("estimator", ["gumbel", "expectation"])
def test_l_acc_is_zero_for_the_teacher_itself_at_the_same_scale(
        estimator, synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.SCALES", "(1.0, 0.5)",
                  "MODEL.DLD.DRS.FLOPS", "[2, 1]", "MODEL.DLD.DRS.ESTIMATOR", estimator,
                  *EXACT_ACC)
    model = dld_model(cfg, teacher_files)  # the student is a copy of the teacher
    batch = training_batches(cfg, 1)[0]
    images = model.preprocess_image(batch)
    gts = [x["instances"] for x in batch]
    rois = model.spotter.gt_recognition_rois(gts)
    targets = torch.cat([r.gt_texts for r in rois])[:, :6]
    assert len(targets) > 0
    for h, zero in (([1.0, 0.0], True), ([0.0, 1.0], False)):
        h = torch.tensor([h] * len(batch))  # also the selector's p, for "expectation"
        loss = drs_losses(model, h, h.log(), batch, images, rois, targets)["loss_acc"]
        assert (loss.abs() < 1e-5) == zero, (h, loss)


def test_downscaled_inference_maps_back_to_the_original_image(
        synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.FIXED_SCALE", "0.5",
                  "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0")
    model = dld_model(cfg, teacher_files).eval()
    assert isinstance(model.selector, FixedResolution)
    base = build_model(load_config(teacher_files[0], ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"]))
    DetectionCheckpointer(base).load(teacher_files[1])
    base.eval()
    image = torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8)
    with torch.no_grad():
        out = model([{"image": image, "height": 320, "width": 448}])[0]
        # The base spotter on the same half-size image, from the model's own resize.
        small = model.spotter.rescale(model.preprocess_image([{"image": image}]), [0.5])[0]
        half = (small.tensor[0, :, :80, :112] * model.spotter.pixel_std
                + model.spotter.pixel_mean)
        ref = base([{"image": half, "height": 80, "width": 112}])[0]["instances"]
    inst = out["instances"]
    assert out["scale"] == 0.5 and len(inst) > 0
    assert inst.image_size == (320, 448) and inst.pred_masks.shape[1:] == (320, 448)
    assert torch.allclose(inst.pred_boxes.tensor, ref.pred_boxes.tensor * 4, atol=1e-2)
    assert list(inst.pred_texts) == list(ref.pred_texts)


def test_ground_truth_polygons_and_boxes_scale_together():
    inst = Instances((100, 200), gt_boxes=Boxes(torch.tensor([[10.0, 20.0, 50.0, 40.0]])),
                     gt_masks=PolygonMasks([[[10, 20, 50, 20, 50, 40, 10, 40]]]),
                     gt_texts=torch.tensor([[3, 0]]))
    out = scale_instances(inst, (50, 80), (0.4, 0.5))
    expected = torch.tensor([[4.0, 10.0, 20.0, 20.0]])
    assert torch.allclose(out.gt_boxes.tensor, expected)
    assert torch.allclose(out.gt_masks.get_bounding_boxes().tensor, expected)
    assert torch.equal(inst.gt_boxes.tensor, torch.tensor([[10.0, 20.0, 50.0, 40.0]]))


def test_predictor_picks_one_scale_per_image_without_noise(synth_dataset, teacher_files,
                                                           tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path)
    predictor = DefaultPredictor(cfg)
    image = cv2.imread(DatasetCatalog.get(synth_dataset[1])[0]["file_name"])
    first, second = predictor(image), predictor(image)
    assert first["scale"] in cfg.MODEL.DLD.SCALES and first["scale"] == second["scale"]
    assert first["instances"].image_size == image.shape[:2]


def test_flops_table_falls_with_the_scale(synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.SCALES", "(1.0, 0.6, 0.3)",
                  "MODEL.DLD.DRS.FLOPS", "[]", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.0")
    model = dld_model(cfg, teacher_files)
    image = torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8)
    flops = measure_scale_flops(model, [{"image": image, "height": 160, "width": 224}])
    assert flops[0] > flops[1] > flops[2] > 0
    assert model.training  # restored


def test_trainer_attaches_a_frozen_teacher_outside_checkpoints_and_optimizer(
        synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "SOLVER.MAX_ITER", "1")
    trainer = TextSpotterTrainer(cfg)
    hooks = {type(h) for h in trainer._hooks}
    assert {TeacherHook, TemperatureHook} <= hooks
    model = trainer.model
    teacher = model.teacher
    assert teacher is not None and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    optimized = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
    assert not optimized & {id(p) for p in teacher.parameters()}
    assert all(m is not teacher for m in model.modules())
    assert not {id(p) for p in model.parameters()} & {id(p) for p in teacher.parameters()}
    trainer.checkpointer.save("student")
    saved = torch.load(tmp_path / "student.pth", weights_only=False)["model"]
    assert set(saved) == set(model.state_dict())
    assert not any(k.startswith("teacher") or "_teacher" in k for k in saved)
    assert sum(v.numel() for v in saved.values()) == sum(
        v.numel() for v in build_model(cfg).state_dict().values())


def test_missing_teacher_checkpoint_is_a_clear_error(synth_dataset, teacher_files, tmp_path):
    missing = str(tmp_path / "no_teacher.pth")
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.TEACHER.WEIGHTS", missing)
    with pytest.raises(FileNotFoundError, match="no_teacher.pth"):
        TextSpotterTrainer(cfg)


def test_mismatched_teacher_is_a_clear_error(synth_dataset, teacher_files, tmp_path):
    config, weights = teacher_files
    other = tmp_path / "other.yaml"
    cfg = load_config(config, ["MODEL.REC_HEAD.LSTM_HIDDEN", "16"])
    other.write_text(cfg.dump())
    with pytest.raises(ValueError, match="other.yaml"):
        build_teacher(str(other), weights, "cpu")
    student = build_model(dld_cfg(synth_dataset, teacher_files, tmp_path,
                                  "MODEL.REC_HEAD.LSTM_HIDDEN", "16"))
    with pytest.raises(ValueError, match="teacher.yaml"):
        student.set_teacher(build_teacher(config, weights, "cpu"), source=config)


def test_train_net_two_processes(synth_dataset, teacher_files, tmp_path):
    config, weights = teacher_files
    opts = tiny_opts(synth_dataset, tmp_path, "SOLVER.MAX_ITER", "2",
                     "MODEL.DLD.TEACHER.CONFIG", config, "MODEL.DLD.TEACHER.WEIGHTS", weights,
                     "MODEL.WEIGHTS", weights, *DRS_OPTS, "MODEL.DLD.SCALES", "(0.8, 0.5)",
                     "MODEL.DLD.DRS.FLOPS", "[2, 1]")
    opts = with_synth_root(opts, synth_dataset[2])
    opts[opts.index("DATASETS.TEST") + 1] = "()"
    result = run_train_net("--num-gpus", "2", "--config-file", DLD_CONFIG, *opts)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = torch.load(tmp_path / "model_final.pth", weights_only=False)["model"]
    assert any(k.startswith("selector.") for k in saved)


def test_selector_on_the_endless_stream_is_a_clear_error(synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "DATASETS.TRAIN", "('synth_stream',)")
    with pytest.raises(ValueError, match="finite training set"):
        TextSpotterTrainer(cfg)


@pytest.mark.parametrize("epoch_images", [0, 3])
def test_temperature_epoch_is_the_set_or_epoch_images(epoch_images, synth_dataset,
                                                      teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "SOLVER.MAX_ITER", "1",
                  "MODEL.DLD.DRS.EPOCH_IMAGES", str(epoch_images))
    trainer = TextSpotterTrainer(cfg)
    hook = next(h for h in trainer._hooks if isinstance(h, TemperatureHook))
    set_size = len(DatasetCatalog.get(cfg.DATASETS.TRAIN[0]))
    assert set_size != 3
    assert hook.dataset_size == (epoch_images or set_size)


@pytest.mark.parametrize("variant, absent, present", [
    ("dld_tiny_drs_only.yaml", {"loss_roi", "loss_con", "loss_seq"}, {"loss_acc", "loss_flops"}),
    ("dld_tiny_skd_only.yaml", {"loss_acc", "loss_flops"}, {"loss_roi", "loss_con", "loss_seq"}),
])
def test_each_variant_has_only_its_own_losses(variant, absent, present, synth_dataset,
                                              teacher_files, tmp_path):
    config, weights = teacher_files
    cfg = load_config(os.path.join(REPO, "configs/synth", variant), tiny_opts(
        synth_dataset, tmp_path, "MODEL.DLD.TEACHER.CONFIG", config,
        "MODEL.DLD.TEACHER.WEIGHTS", weights, "MODEL.WEIGHTS", weights, *DRS_OPTS))
    model = dld_model(cfg, teacher_files)
    with EventStorage():
        losses = model(training_batches(cfg, 1)[0])
    assert present <= set(losses) and not absent & set(losses), sorted(losses)
    assert {"loss_rec", "loss_mask", "loss_cls"} <= set(losses)


@pytest.mark.parametrize("estimator", ["gumbel", "expectation"])
@pytest.mark.parametrize("gamma, winner", [(0.0, 0), (10.0, 1)])
def test_selector_follows_accuracy_without_a_cost_and_the_cost_when_it_dominates(
        gamma, winner, estimator, synth_dataset, teacher_files, tmp_path):
    """Student = teacher, scales (1.0, 0.5): with gamma 0 only L_acc speaks and it is zero at
    the teacher's own scale, so the selector moves to 1.0; a large gamma moves it to 0.5."""
    torch.manual_seed(0)  # the selector's initialisation: independent of the tests run before
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.SCALES", "(1.0, 0.5)",
                  "MODEL.DLD.DRS.FLOPS", "[2, 1]", "MODEL.DLD.DRS.FLOPS_WEIGHT", str(gamma),
                  "MODEL.DLD.DRS.ESTIMATOR", estimator, *EXACT_ACC)
    model = dld_model(cfg, teacher_files)
    batch = training_batches(cfg, 1)[0]
    images = model.preprocess_image(batch)
    gts = [x["instances"] for x in batch]
    rois = model.spotter.gt_recognition_rois(gts)
    targets = torch.cat([r.gt_texts for r in rois])[:, :6]
    student_probs = model._probs_at_every_scale(images, rois, targets)  # fixed: only h learns
    model._probs_at_every_scale = lambda *args: student_probs
    thumbnails = model.selector.thumbnails(images.tensor, images.image_sizes)
    optimizer = torch.optim.Adam(model.selector.parameters(), lr=0.02)
    torch.manual_seed(0)
    for _ in range(40):
        log_p = model.selector(thumbnails)
        h = gumbel_softmax_sample(log_p, tau=1.0)
        loss = sum(drs_losses(model, h, log_p, batch, images, rois, targets).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    p = model.selector(thumbnails).exp().mean(dim=0)
    assert p[winner] > 0.8, p


def test_teacher_reading_another_fpn_level_is_a_clear_error(synth_dataset, teacher_files,
                                                            tmp_path):
    """L_roi compares teacher and student RoI features: both must pool the same levels."""
    config, weights = teacher_files
    student = build_model(dld_cfg(synth_dataset, teacher_files, tmp_path,
                                  "MODEL.REC_HEAD.IN_FEATURES", "['p3']"))
    with pytest.raises(ValueError, match="IN_FEATURES"):
        student.set_teacher(build_teacher(config, weights, "cpu"), source=config)


def test_dynamic_cost_is_the_mean_over_every_image_at_its_chosen_scale(
        synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.SCALES", "(1.0, 0.5)",
                  "MODEL.DLD.DRS.FLOPS", "[2, 1]", "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.0")
    model = dld_model(cfg, teacher_files).eval()
    image = torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8)
    loader = [[{"image": image, "height": 160, "width": 224}] for _ in range(3)]
    picks = iter([1.0, 0.5, 0.5])  # the selector's choice for each of the three images
    forced = DLDSpotter.select_scales.__get__(model)  # FIXED_SCALE while the table is measured
    model.select_scales = lambda images: (forced(images) if model._forced_scale is not None
                                          else [next(picks) for _ in range(len(images))])
    with torch.no_grad():
        table = measure_scale_flops(model, loader[0])
        selector = measure_selector_flops(model, loader[0])
    cost = dynamic_cost(model, loader, num_table_images=1, warmup=0)
    assert selector > 0 and table[0] > table[1]
    assert cost["flops_images"] == 3 and cost["speed_images"] == 3
    expected = selector + (table[0] + 2 * table[1]) / 3
    assert cost["gflops"] == pytest.approx(expected / 1e9, rel=1e-6)


def test_l_seq_keeps_the_top_k_of_a_wider_beam_search(synth_dataset, teacher_files, tmp_path):
    """§3.4: a top-3 beam search, then K = 1 (two keys, not one)."""
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path)
    assert (cfg.MODEL.DLD.SKD.BEAM_WIDTH, cfg.MODEL.DLD.SKD.TOP_K) == (3, 1)
    model = dld_model(cfg, teacher_files)
    recognizer = model.teacher.text_recognizer
    widths = []
    search = recognizer.beam_search
    recognizer.beam_search = lambda enc, width: widths.append(width) or search(enc, width)
    batch = training_batches(cfg, 1)[0]
    gts = [x["instances"] for x in batch]
    rois = model.spotter.gt_recognition_rois(gts)
    targets = torch.cat([r.gt_texts for r in rois])[:, :6]
    beams = teacher_beams(model, batch, rois, targets)
    assert widths == [3] and beams.shape[:2] == (len(targets), 1)
    with pytest.raises(ValueError, match="TOP_K"):
        build_model(dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.SKD.TOP_K", "4"))


def test_seq_words_read_scores_only_the_words_the_teacher_reads(synth_dataset, teacher_files,
                                                               tmp_path):
    """SEQ_WORDS "read": L_seq keeps a word's beams only if the teacher's best beam is its
    ground truth; "all" (the paper) keeps every word's."""
    batch = training_batches(dld_cfg(synth_dataset, teacher_files, tmp_path), 1)[0]
    models = {words: dld_model(dld_cfg(synth_dataset, teacher_files, tmp_path,
                                       "MODEL.DLD.SKD.SEQ_WORDS", words), teacher_files)
              for words in ("all", "read")}
    rois = models["all"].spotter.gt_recognition_rois([x["instances"] for x in batch])
    truth = torch.cat([r.gt_texts for r in rois])
    best = teacher_beams(models["all"], batch, rois, truth)[:, 0]
    width = max(best.shape[1], truth.shape[1])  # even rows: as if the teacher read them
    half = torch.where(torch.arange(len(truth))[:, None] % 2 == 0,
                       F.pad(best, (0, width - best.shape[1]), value=IGNORE),
                       F.pad(truth, (0, width - truth.shape[1]), value=IGNORE))
    out = {words: teacher_beams(m, batch, rois, half) for words, m in models.items()}
    misread = (out["all"][:, 0] != IGNORE).any(dim=1) & ~read_correctly(out["all"][:, 0], half)
    assert bool(misread[1::2].all()), "the untrained teacher misreads the real words"
    assert torch.equal(out["read"][0::2], out["all"][0::2])
    assert bool((out["read"][1::2] == IGNORE).all())
    with pytest.raises(ValueError, match="SEQ_WORDS"):
        build_model(dld_cfg(synth_dataset, teacher_files, tmp_path,
                            "MODEL.DLD.SKD.SEQ_WORDS", "some"))


def test_table3_baselines_train_their_own_losses(synth_dataset, teacher_files, tmp_path):
    """Bhunia et al.'s four recognition losses and Qi et al.'s aligned detection-feature loss
    (student at 0.5: its p2 against the teacher's p3, ...): each is there, finite, and its
    gradient reaches the student (the adapters included), never the teacher."""
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.FIXED_SCALE", "0.5",
                  "MODEL.DLD.DISTILLERS", str(TABLE3_DISTILLERS),
                  *[f"MODEL.DLD.SKD.{k}_WEIGHT" if i % 2 == 0 else "1.0"
                    for k in ("LOGITS", "HINT", "ATTENTION", "AFFINITY", "DET_FEATURE")
                    for i in (0, 1)])
    model = dld_model(cfg, teacher_files)
    aligned = model.distillers["AlignedFeatureKD"]
    assert [p for p, _ in aligned.pairs] == ["p2", "p3", "p4", "p5"]
    assert [t for _, t in aligned.pairs] == ["p3", "p4", "p5", "p6"]
    with EventStorage():
        losses = model(training_batches(cfg, 1)[0])
    kd = ["loss_logits", "loss_hint", "loss_attention", "loss_affinity", "loss_det_feature"]
    assert set(kd) <= set(losses) and all(torch.isfinite(losses[k]) for k in kd)
    assert all(losses[k] > 0 for k in kd), {k: losses[k].item() for k in kd}
    sum(losses[k] for k in kd).backward()
    assert len(grads(aligned.parameters())) == 8
    assert all(p.grad is None for p in model.teacher.parameters())
    with pytest.raises(ValueError, match="FIXED_SCALE 0.5"):
        build_model(dld_cfg(synth_dataset, teacher_files, tmp_path,
                            "MODEL.DLD.DISTILLERS", str(TABLE3_DISTILLERS),
                            "MODEL.DLD.SKD.DET_FEATURE_WEIGHT", "1.0"))
    with pytest.raises(ValueError, match="add 'DecoderKD' to MODEL.DLD.DISTILLERS"):
        build_model(dld_cfg(synth_dataset, teacher_files, tmp_path,
                            "MODEL.DLD.SKD.HINT_WEIGHT", "1.0"))


def test_selector_learning_rate_factor(synth_dataset, teacher_files, tmp_path):
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.LR_FACTOR", "10.0",
                  "SOLVER.REC_LR_FACTOR", "1.0")
    model = build_model(cfg)
    optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
    selector = {id(p) for p in model.selector.parameters()}
    lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert len(lrs) == sum(1 for _ in model.parameters())
    assert selector and all(lr == pytest.approx(10 * cfg.SOLVER.BASE_LR if i in selector else
                                                cfg.SOLVER.BASE_LR) for i, lr in lrs.items())


@pytest.mark.parametrize("factor", [0.0, 1.0])
def test_selector_learning_rate_factor_zero_freezes_the_selector(factor, synth_dataset,
                                                                 teacher_files, tmp_path):
    """``DRS.LR_FACTOR 0``: a training step leaves every selector tensor (BN statistics too)
    as it was, computes no Eq. 4 and needs no temperature or FLOPs hook; a trained selector's
    step changes them."""
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.LR_FACTOR",
                  str(factor), "SOLVER.REC_LR_FACTOR", "1.0")
    model = dld_model(cfg, teacher_files)
    before = {k: v.clone() for k, v in model.selector.state_dict().items()}
    optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
    batch = training_batches(cfg, 1)[0]
    with EventStorage():
        losses = model(batch)
    sum(losses.values()).backward()
    optimizer.step()
    changed = [k for k, v in model.selector.state_dict().items() if not torch.equal(v, before[k])]
    frozen = factor == 0.0
    assert model.selector.training is not frozen
    assert ({"loss_acc", "loss_flops"} & set(losses) == set()) is frozen
    assert (changed == []) is frozen, changed
    hooks = {type(h) for h in build_dld_hooks(cfg, model)}
    assert hooks == ({TeacherHook} if frozen else {TeacherHook, TemperatureHook, ScaleFlopsHook})
    if frozen:  # each image at the selector's most probable scale, as at test
        seen = []
        original = model.spotter.rescale
        model.spotter.rescale = lambda images, scales: seen.append(scales) or original(images,
                                                                                        scales)
        with EventStorage():
            model(batch)
        assert seen == [model.select_scales(model.preprocess_image(batch))]
    with pytest.raises(ValueError, match="LR_FACTOR must be >= 0"):
        build_model(dld_cfg(synth_dataset, teacher_files, tmp_path,
                            "MODEL.DLD.DRS.LR_FACTOR", "-1.0"))


def test_roi_features_option_reaches_l_roi_and_rejects_unknown_values(synth_dataset,
                                                                       teacher_files, tmp_path):
    losses = {}
    for features in ("pooled", "normalized"):
        cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.SKD.ROI_FEATURES",
                      features)
        model = dld_model(cfg, teacher_files)
        torch.manual_seed(0)
        with EventStorage():
            losses[features] = model(training_batches(cfg, 1)[0])["loss_roi"].item()
    assert losses["pooled"] != pytest.approx(losses["normalized"])
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.SKD.ROI_FEATURES", "raw")
    with pytest.raises(ValueError, match="ROI_FEATURES"):
        build_model(cfg)


def test_acc_mean_option_reaches_l_acc_and_rejects_unknown_values(synth_dataset,
                                                                   teacher_files, tmp_path):
    losses, batch = {}, None
    for mean in ("step", "image"):
        cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.ACC_MEAN", mean)
        # two images with unequal word counts, the same for both runs
        batch = batch or next(b for b in training_batches(cfg, 8)
                              if len({len(x["instances"]) for x in b}) == 2)
        model = dld_model(cfg, teacher_files)  # seeded: the same selector and Gumbel draws
        with EventStorage():
            losses[mean] = model(batch)["loss_acc"].item()
    assert losses["step"] > 0 and losses["step"] != pytest.approx(losses["image"])
    for key, bad in (("ACC_MEAN", "word"), ("ESTIMATOR", "reinforce")):
        cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, f"MODEL.DLD.DRS.{key}", bad)
        with pytest.raises(ValueError, match=key):
            build_model(cfg)


def test_selector_weights_start_a_new_run_and_a_wrong_file_names_the_key(
        synth_dataset, teacher_files, tmp_path):
    """MODEL.DLD.DRS.WEIGHTS (tools/train_selector.py's file) replaces the selector's
    initialisation after MODEL.WEIGHTS; another DRS shape is an error naming the key."""
    torch.manual_seed(1)
    trained = build_model(dld_cfg(synth_dataset, teacher_files, tmp_path)).selector
    path = str(tmp_path / "selector.pth")
    torch.save({"model": trained.state_dict()}, path)
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path / "run", "MODEL.DLD.DRS.WEIGHTS", path)
    trainer = TextSpotterTrainer(cfg)
    trainer.resume_or_load(resume=False)
    loaded = trainer.model.selector.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in trained.state_dict().items())
    wide = dld_cfg(synth_dataset, teacher_files, tmp_path / "wide", "MODEL.DLD.DRS.WEIGHTS",
                   path, "MODEL.DLD.DRS.STAGE_CHANNELS", "(8, 16, 32, 128)")
    with pytest.raises(ValueError, match="DRS.WEIGHTS"):
        TextSpotterTrainer(wide).resume_or_load(resume=False)


def test_train_selector_labels_by_the_size_rule_and_writes_loadable_weights(
        synth_dataset, teacher_files, tmp_path):
    tool = load_tool("train_selector")
    opts = dld_cfg_opts(synth_dataset, teacher_files, tmp_path)
    cfg = load_config(DLD_CONFIG, opts)
    model = build_model(cfg)
    thumbs, labels = tool.rule_labels(cfg, model, cfg.DATASETS.TRAIN[0], 12.0)
    dicts = DatasetCatalog.get(cfg.DATASETS.TRAIN[0])
    assert thumbs.shape == (len(dicts), 3, 32, 32)
    for d, label in zip(dicts, labels.tolist()):
        factor = min(cfg.INPUT.MIN_SIZE_TEST / min(d["height"], d["width"]),
                     cfg.INPUT.MAX_SIZE_TEST / max(d["height"], d["width"]))
        words = [text_heights([a["segmentation"][0]])[0] * factor for a in d["annotations"]
                 if not a.get("ignore")]
        expected = smallest_legible_scale(min(words, default=math.inf), model.scales, 12.0)
        assert model.scales[label] == expected
    out = str(tmp_path / "selector.pth")
    tool.main(["--config-file", DLD_CONFIG, "--out", out, "--steps", "4", "--batch", "4",
               *opts])
    load_strict(model.selector, out)  # the selector's own keys and shapes
    (source,) = torch.load(out, weights_only=False)["provenance"]["data"]
    assert source.startswith(cfg.DATASETS.TRAIN[0]) and source.endswith(".json)")


def test_scale_costs_are_eq4_of_each_one_hot_decision(synth_dataset, teacher_files, tmp_path):
    """Under ESTIMATOR "expectation" and ACC_MEAN "image", L_DRS is the mean over the images of
    sum_i p_i cost_i; a gamma that dwarfs L_acc makes the smallest scale every image's argmin."""
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, *EXACT_ACC,
                  "MODEL.DLD.DRS.ESTIMATOR", "expectation", "MODEL.DLD.DRS.ACC_MEAN", "image")
    model = dld_model(cfg, teacher_files)
    batch = training_batches(cfg, 1)[0]
    costs = model.scale_costs(batch)  # first: the training forward updates BN statistics
    with EventStorage():
        losses = model(batch)
    assert costs.shape == (len(batch), len(model.scales))
    images = model.preprocess_image(batch)
    with torch.no_grad():
        p = model.selector(model.selector.thumbnails(images.tensor, images.image_sizes)).exp()
    assert (p * costs).sum(1).mean().item() == pytest.approx(
        (losses["loss_acc"] + losses["loss_flops"]).item(), rel=1e-5)
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.FLOPS_WEIGHT", "1000.0")
    assert dld_model(cfg, teacher_files).scale_costs(batch).argmin(1).tolist() == \
        [len(model.scales) - 1] * len(batch)


def test_train_selector_drs_costs_are_eq4s_on_a_training_view(synth_dataset, teacher_files,
                                                               tmp_path):
    """--labels drs: each image's L_acc of every one-hot decision on one training view, to
    which gamma T makes scale_costs; the file records the labels and the objective."""
    tool = load_tool("train_selector")
    opts = dld_cfg_opts(synth_dataset, teacher_files, tmp_path, *EXACT_ACC)
    cfg = load_config(DLD_CONFIG, opts)
    model, name = dld_model(cfg, teacher_files), cfg.DATASETS.TRAIN[0]
    seed_all_rng(0)
    thumbs, costs = tool.acc_costs(cfg, model, name)
    seed_all_rng(0)  # the same random training views
    mapper = TextDatasetMapper(cfg, is_train=True)
    dicts = DatasetCatalog.get(name)
    assert thumbs.shape == (len(dicts), 3, 32, 32)
    views = [mapper(d) for d in dicts]
    flops_cost = torch.tensor([6.0, 5, 4, 3, 2, 1]) / 6 * cfg.MODEL.DLD.DRS.FLOPS_WEIGHT
    for cost, x in zip(costs, views):
        assert torch.allclose(cost + flops_cost, model.scale_costs([x])[0], atol=1e-6)
    out = str(tmp_path / "selector.pth")
    tool.main(["--config-file", DLD_CONFIG, "--labels", "drs", "--out", out, "--steps", "2",
               "--batch", "4", *opts])
    load_strict(model.selector, out)
    saved = torch.load(out)["provenance"]
    assert (saved["labels"], saved["gamma"], saved["objective"]) == (
        "drs", cfg.MODEL.DLD.DRS.FLOPS_WEIGHT, "label")


def test_train_selector_expected_objective_follows_eq4_from_cached_costs(
        synth_dataset, teacher_files, tmp_path, monkeypatch):
    """--objective expected minimises sum_i p_i cost_i: with a gamma that dwarfs L_acc the
    selector learns the smallest scale for every held-out image. A second run reads the
    L_acc tables from --costs without running the model; a cache of another run is refused."""
    tool = load_tool("train_selector")
    opts = dld_cfg_opts(synth_dataset, teacher_files, tmp_path, *EXACT_ACC)
    cache, out = str(tmp_path / "costs.pt"), str(tmp_path / "selector.pth")
    args = ["--config-file", DLD_CONFIG, "--labels", "drs", "--objective", "expected",
            "--costs", cache, "--out", out, "--batch", "4"]
    tool.main([*args, "--steps", "1", *opts])
    tables = torch.load(cache)["tables"]

    def no_model_pass(*_):
        raise AssertionError("the L_acc tables were recomputed")
    monkeypatch.setattr(DLDSpotter, "acc_costs", no_model_pass)
    tool.main([*args, "--steps", "40", "--lr", "0.01", *opts,
               "MODEL.DLD.DRS.FLOPS_WEIGHT", "1000.0"])
    cfg = load_config(DLD_CONFIG, opts)
    selector = load_strict(build_model(cfg).selector, out)
    held_out = tables[cfg.DATASETS.TEST[0]][0]
    assert tool.choices(selector, held_out).tolist() == [5] * len(held_out)
    assert torch.load(out)["provenance"]["objective"] == "expected"
    with pytest.raises(ValueError, match="--costs"):
        tool.main([*args, "--steps", "1", *opts, "MODEL.DLD.DRS.THUMBNAIL_SIZE", "48"])
    with pytest.raises(SystemExit):  # Eq. 4's expectation needs Eq. 4's costs
        tool.main(["--config-file", DLD_CONFIG, "--objective", "expected", "--out", out, *opts])


def test_expected_objective_weighs_costs_where_the_argmin_labels_count_votes():
    """A selector that cannot tell the images apart (identical thumbnails): scale 1 is the
    argmin of 60 % of them but costs 2.0 on the rest, scale 0 costs 0.2 on all. Cross-entropy
    on the argmin learns scale 1; Eq. 4's expectation (0.8 against 0.2) learns scale 0."""
    tool = load_tool("train_selector")
    costs = torch.tensor([[0.2, 0.0]] * 6 + [[0.2, 2.0]] * 4)
    thumbs = torch.zeros(len(costs), 3, 32, 32)
    held_out = (thumbs, costs.argmin(1))
    chosen = {}
    for name, targets in (("label", costs.argmin(1)), ("expected", costs)):
        torch.manual_seed(0)
        selector = DynamicResolutionSelector(2, 32, 4, (4, 4, 4, 4))
        tool.train(selector, thumbs, targets, 60, 8, 1e-2, held_out)
        chosen[name] = tool.choices(selector, thumbs).tolist()
    assert chosen == {"label": [1] * 10, "expected": [0] * 10}


def test_decision_table_reports_gflops_and_eq4_cost_of_each_decision():
    tool = load_tool("train_selector")
    costs = torch.tensor([[0.1, 0.5], [0.9, 0.3]])
    table = tool.decision_table({"argmin": torch.tensor([0, 1]), "all at 0": torch.tensor([0, 0])},
                                costs, torch.tensor([2e9, 1e9]))
    assert table.splitlines()[2:] == ["| argmin | 1.50 | 0.2000 | 1 / 1 |",
                                      "| all at 0 | 2.00 | 0.5000 | 2 / 0 |"]


def test_expectation_estimator_reaches_the_selector_losses(synth_dataset, teacher_files,
                                                           tmp_path):
    """ESTIMATOR "expectation": L_flops is the cost expected under the selector's p, not the
    cost of a Gumbel sample's one scale."""
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.ESTIMATOR",
                  "expectation")
    model = dld_model(cfg, teacher_files)
    batch = training_batches(cfg, 1)[0]
    with EventStorage():
        losses = model(batch)
    images = model.preprocess_image(batch)
    with torch.no_grad():
        p = model.selector(model.selector.thumbnails(images.tensor, images.image_sizes)).exp()
    flops = torch.tensor([6.0, 5, 4, 3, 2, 1])  # DRS_OPTS
    expected = (p * flops / 6).sum(dim=1).mean() * cfg.MODEL.DLD.DRS.FLOPS_WEIGHT
    assert losses["loss_flops"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_acc_dtype_runs_the_every_scale_pass_under_autocast_and_rejects_unknown_values(
        synth_dataset, teacher_files, tmp_path):
    """ACC_DTYPE "bfloat16": the student's backbone runs in bf16 at every scale, y_si come back
    float32, normalised, and close to float32's; "float32" runs it in float32."""
    probs, dtypes, batch = {}, {}, None
    for dtype in ("float32", "bfloat16"):
        cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.ACC_DTYPE", dtype)
        model = dld_model(cfg, teacher_files)
        batch = batch or training_batches(cfg, 1)[0]  # the same batch for both
        rois = model.spotter.gt_recognition_rois([x["instances"] for x in batch])
        targets = torch.cat([r.gt_texts for r in rois])[:, :6]
        dtypes[dtype] = set()
        hook = model.spotter.backbone.register_forward_hook(
            lambda module, args, out, seen=dtypes[dtype]: seen.add(out["p2"].dtype))
        probs[dtype] = model._probs_at_every_scale(model.preprocess_image(batch), rois, targets)
        hook.remove()
    assert dtypes == {"float32": {torch.float32}, "bfloat16": {torch.bfloat16}}
    assert probs["bfloat16"].dtype == torch.float32
    assert probs["bfloat16"].shape == probs["float32"].shape
    assert torch.allclose(probs["bfloat16"].sum(-1), torch.ones(()), atol=1e-5)
    difference = (probs["bfloat16"] - probs["float32"]).abs()
    assert 0 < difference.mean() < 1e-2
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.ACC_DTYPE", "int8")
    with pytest.raises(ValueError, match="ACC_DTYPE"):
        build_model(cfg)


def test_flops_unit_reaches_l_flops_and_rejects_unknown_values(synth_dataset, teacher_files,
                                                               tmp_path):
    """The same decisions cost 6x more in GFLOPs than in units of the largest of these
    T_i (6, ..., 1 GFLOPs)."""
    losses, batch = {}, None
    for unit in ("max", "gflops"):
        cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.FLOPS",
                      "[6e9, 5e9, 4e9, 3e9, 2e9, 1e9]", "MODEL.DLD.DRS.FLOPS_UNIT", unit)
        batch = batch or training_batches(cfg, 1)[0]
        model = dld_model(cfg, teacher_files)  # seeded: the same selector and Gumbel draws
        with EventStorage():
            losses[unit] = model(batch)["loss_flops"].item()
    assert losses["gflops"] == pytest.approx(6 * losses["max"], rel=1e-5)
    cfg = dld_cfg(synth_dataset, teacher_files, tmp_path, "MODEL.DLD.DRS.FLOPS_UNIT", "tflops")
    with pytest.raises(ValueError, match="FLOPS_UNIT"):
        build_model(cfg)

