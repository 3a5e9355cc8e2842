"""SegTextSpotter: the DB-style segmentation head's targets, losses and post-processing by hand,
its training and inference in the spotter, the recognition heads shared with the Mask R-CNN
spotter (parameter names, the shipped teacher's weights), the distillation interface, and clear
errors for a bad config."""
import copy
import math
import os

import numpy as np
import pytest
import shapely
import torch
from detectron2.modeling import build_model
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Instances, PolygonMasks
from detectron2.utils.events import EventStorage
from testing import REPO, TINY_OPTS, rect, tiny_opts, training_batches

from dld_spotter.charset import IGNORE
from dld_spotter.checkpoint import TextCheckpointer
from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.modeling import SegTextSpotter, TextRecognitionHeads, TextSegmentationHead
from dld_spotter.modeling.seg_head import SegTargets, seg_losses, seg_targets, unclip

SEG_CONFIG = os.path.join(REPO, "configs/synth/seg_teacher_tiny.yaml")
SEG_TINY = ["MODEL.SEG_HEAD.CONV_DIM", "32"]


@pytest.fixture(scope="module")
def seg_cfg(synth_dataset, tmp_path_factory):
    torch.set_flush_denormal(True)  # untrained BN statistics: keep CPU convs fast in eval
    yield load_config(SEG_CONFIG, tiny_opts(synth_dataset, tmp_path_factory.mktemp("seg"),
                                            *SEG_TINY))
    torch.set_flush_denormal(False)


@pytest.fixture(scope="module")
def trained(seg_cfg):
    """A tiny seg spotter after 6 AdamW steps on one batch, and its losses at each step."""
    torch.manual_seed(0)
    model = build_model(seg_cfg).train()
    optimizer = TextSpotterTrainer.build_optimizer(seg_cfg, model)
    (batch,) = training_batches(seg_cfg, 1)
    history, grads = [], {}
    with EventStorage():
        for _ in range(6):
            losses = model(batch)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            if not grads:
                grads = {name: p.grad for name, p in model.named_parameters()}
            optimizer.step()
            history.append({k: v.item() for k, v in losses.items()})
    return model, batch, history, grads


def box(x0, y0, x1, y1):
    return np.array(rect(x0, y0, x1, y1), dtype=np.float64).reshape(-1, 2)


def test_targets_of_a_hand_worked_rectangle():
    # 100 x 20: A = 2000, L = 240, D = 2000 (1 - 0.4^2) / 240 = 7
    word = box(10, 10, 110, 30)
    prob, prob_mask, thresh, thresh_mask = seg_targets(
        [word], [False], (64, 128), (60, 120), 0.4, (0.3, 0.7))
    assert prob.sum() == 86 * 6  # the shrunk word: (17, 17)-(103, 23)
    assert prob[17:23, 17:103].all()
    assert prob_mask[:60, :120].all() and not prob_mask[60:].any() and not prob_mask[:, 120:].any()
    # the band: the word grown by D with rounded corners, 2000 + 240 D + pi D^2 pixels
    assert thresh_mask.sum() == pytest.approx(2000 + 240 * 7 + math.pi * 49, rel=0.01)
    assert thresh_mask[3:37, 17:103].all() and not thresh_mask[:2].any()
    # T: 0.3 + 0.4 (1 - distance to the border / D), the border's pixel centres 0.5 px away
    assert thresh[10, 60] == pytest.approx(0.3 + 0.4 * (1 - 0.5 / 7))
    assert thresh[5, 60] == pytest.approx(0.3 + 0.4 * (1 - 4.5 / 7))
    assert thresh[20, 60] == pytest.approx(0.3)  # 9.5 px inside: beyond D
    assert thresh[50, 60] == pytest.approx(0.3)  # outside the band


def test_dont_care_words_take_no_target_and_no_loss():
    care, dont_care = box(10, 10, 110, 30), box(10, 40, 60, 56)
    prob, prob_mask, thresh, thresh_mask = (torch.from_numpy(m)[None] for m in seg_targets(
        [care, dont_care], [False, True], (64, 128), (64, 128), 0.4, (0.3, 0.7)))
    assert prob_mask[0, 40:56, 10:60].sum() == 0 and prob[0, 40:].sum() == 0
    assert thresh_mask[0, 40:, :].sum() == 0  # its band is not drawn either
    targets = SegTargets(prob, prob_mask, thresh, thresh_mask)
    torch.manual_seed(0)
    logits, t = torch.randn(1, 64, 128), torch.rand(1, 64, 128)
    before = seg_losses(logits, t, targets, 50.0, 3.0)
    logits[0, 40:56, 10:60], t[0, 40:56, 10:60] = 20.0, 0.0  # "text" all over the region
    after = seg_losses(logits, t, targets, 50.0, 3.0)
    assert {k: v.item() for k, v in before.items()} == \
        pytest.approx({k: v.item() for k, v in after.items()})


def test_head_reads_dont_care_from_gt_texts(seg_cfg):
    head = build_model(seg_cfg).proposal_generator
    gts = Instances((64, 128), gt_masks=PolygonMasks([[rect(10, 10, 110, 30)],
                                                       [rect(10, 40, 60, 56)]]),
                    gt_texts=torch.tensor([[5, 6, 0], [IGNORE, IGNORE, 0]]))
    t = head.targets([gts], (64, 128), [(64, 128)])
    assert t.prob_mask[0, 40:56, 10:60].sum() == 0 and t.prob[0, 17:23, 17:103].all()


def test_unclip_inverts_the_shrink():
    for word in (box(0, 0, 100, 20), box(0, 0, 300, 10), box(0, 0, 40, 40)):
        poly = shapely.Polygon(word)
        d = poly.area * (1 - 0.4 ** 2) / poly.length
        (grown,) = unclip(np.array([poly.buffer(-d)], dtype=object), 0.4)
        iou = grown.intersection(poly).area / grown.union(poly).area
        assert iou > 0.95, (word, iou)


def test_postprocessing_finds_hand_drawn_words_in_original_coordinates(seg_cfg):
    head = build_model(seg_cfg).proposal_generator.eval()
    prob = torch.zeros(1, 80, 160)
    prob[0, 17:23, 17:103] = 0.9  # the shrink of the word (10, 10)-(110, 30)
    prob[0, 50:60, 20:40] = 0.4  # above the binarisation, below the box score: dropped
    prob[0, 70:75, 150:160] = 0.8  # a word cut by the image's right border (w = 156)
    assert head.unclip_ratio == 0.8  # the config's: each side 0.2 d inside the exact word
    (shy,) = head.postprocess(prob, [(78, 156)])
    head.unclip_ratio = 1.0  # grows a shrunk rectangle back to its word
    (out,) = head.postprocess(prob, [(78, 156)])
    # the region's contour runs through its border pixels' centres: 0.8 x the growth at 1.0
    contour = torch.tensor([17.5, 17.5, 102.5, 22.5])
    growth = out.pred_boxes.tensor[0] - contour
    assert shy.pred_boxes.tensor[0].tolist() == pytest.approx((contour + 0.8 * growth).tolist(),
                                                              abs=0.05)
    assert out.image_size == (78, 156)
    assert out.scores.tolist() == pytest.approx([0.9, 0.8], abs=1e-4)
    assert out.pred_classes.tolist() == [0, 0]
    boxes = out.pred_boxes.tensor
    assert boxes[0].tolist() == pytest.approx([10, 10, 110, 30], abs=1.5)
    assert boxes[1, 2] == 156  # clipped to the image
    assert out.pred_masks.shape == (2, 1, 28, 28)
    assert out.pred_masks[0, 0, 4:24, 4:24].min() == 1  # the word fills its box
    # the network input was the original image resized by 1/2
    original = detector_postprocess(out, 156, 312)
    assert original.pred_boxes.tensor[0].tolist() == pytest.approx([20, 20, 220, 60], abs=3)
    masks = original.pred_masks[0]
    assert masks.shape == (156, 312)
    assert masks[24:56, 24:216].all() and not masks[:16].any() and not masks[:, 226:].any()


def test_training_lowers_the_losses_and_reaches_the_seg_head(trained):
    _, _, history, grads = trained
    assert set(history[0]) >= {"loss_seg_prob", "loss_seg_thresh", "loss_seg_binary",
                               "loss_rec"}
    total = [sum(h.values()) for h in history]
    assert total[-1] < 0.9 * total[0], total
    for key in ("loss_seg_prob", "loss_seg_thresh"):
        assert history[-1][key] < history[0][key], (key, history)
    for prefix in ("proposal_generator.reduce", "proposal_generator.prob_head",
                   "proposal_generator.thresh_head", "backbone.", "roi_heads.recognizer"):
        reached = [g for name, g in grads.items() if name.startswith(prefix)]
        assert reached and all(g is not None for g in reached), prefix
        assert any(g.abs().sum() > 0 for g in reached), prefix


@pytest.mark.parametrize("jitter", [(0.0, 0.0), (0.25, 0.1)])
def test_recognition_trains_on_jittered_boxes_the_interface_gives_exact_ones(seg_cfg, jitter,
                                                                           monkeypatch):
    cfg = seg_cfg.clone()
    cfg.defrost()
    cfg.MODEL.REC_HEAD.BOX_JITTER = jitter
    model = build_model(cfg).train()
    (batch,) = training_batches(cfg, 1)
    seen = []
    pool = model.roi_heads.masked_roi_features
    monkeypatch.setattr(model.roi_heads, "masked_roi_features",
                        lambda f, rois: seen.append(rois) or pool(f, rois))
    with EventStorage():
        model(batch)
    exact = torch.cat([r.proposal_boxes.tensor for r in model.gt_recognition_rois(
        [x["instances"] for x in batch])])
    trained = torch.cat([r.proposal_boxes.tensor for r in seen[-1]])
    assert trained.shape == exact.shape and len(exact) > 0
    assert torch.allclose(trained, exact) == (jitter == (0.0, 0.0))


def test_inference_and_the_distillation_interface(trained, seg_cfg):
    model, batch, _, _ = trained
    model.eval()
    # an untrained model: every image one region (P > 0 everywhere), kept whatever its score
    model.proposal_generator.box_thresh = model.proposal_generator.binarize_thresh = 0.0
    try:
        with torch.no_grad():
            outputs = model(batch)
            images = model.preprocess_image(batch)
            features = model.extract_features(images.tensor)
            found = model.detect(images, features)
            given = [Instances(x.image_size, pred_boxes=g["instances"].gt_boxes,
                               pred_classes=torch.zeros(len(g["instances"]), dtype=torch.long))
                     for x, g in zip(found, batch)]
            read = model.detect(images, features, given)
            rois = model.gt_recognition_rois([x["instances"] for x in batch])
            roi_features = model.recognition_features(features, rois)
    finally:
        model.proposal_generator.box_thresh = seg_cfg.MODEL.SEG_HEAD.BOX_THRESH_TEST
        model.proposal_generator.binarize_thresh = seg_cfg.MODEL.SEG_HEAD.BINARIZE_THRESH_TEST
    for out, inp in zip(outputs, batch):
        x = out["instances"]
        assert x.image_size == (inp["height"], inp["width"])
        assert x.pred_masks.shape[1:] == x.image_size and len(x.pred_texts) == len(x)
    assert sum(len(x) for x in found) > 0
    assert all(x.has("pred_texts") and x.pred_masks.shape[1:] == (1, 28, 28) for x in found)
    assert [len(x.pred_texts) for x in read] == [len(g) for g in given]
    assert roi_features.shape == (sum(len(r) for r in rois), 32, 8, 32)
    assert model.recognition_levels == ["p2"]
    teacher = build_model(load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                                      TINY_OPTS))
    model.check_distillable_from(teacher)
    with EventStorage():
        losses = model.train().detection_losses(images, features,
                                                [x["instances"] for x in batch])
    assert {"loss_seg_prob", "loss_rec"} <= set(losses)


def test_evaluation_runs_end_to_end(trained, seg_cfg):
    model = trained[0].eval()
    cfg = seg_cfg.clone()
    cfg.TEST.TEXT.FLOPS_IMAGES, cfg.TEST.TEXT.SPEED_IMAGES = 1, 1
    results = TextSpotterTrainer.test(cfg, model)
    assert {"text_spotting", "recognition"} <= set(results), results
    assert results["cost"]["gflops"] > 0  # the spotter traces (FLOPs of its convolutions)


def test_recognition_heads_load_the_shipped_teachers_recognizer():
    teacher_cfg = load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                              ["MODEL.DEVICE", "cpu"])
    teacher = build_model(teacher_cfg)
    model = build_model(load_config(SEG_CONFIG, ["MODEL.DEVICE", "cpu"]))
    assert isinstance(model, SegTextSpotter)
    assert isinstance(model.proposal_generator, TextSegmentationHead)
    assert isinstance(model.roi_heads, TextRecognitionHeads)
    ours = {k: v.shape for k, v in model.roi_heads.state_dict().items()}
    theirs = {k: v.shape for k, v in teacher.roi_heads.state_dict().items()
              if k.startswith(("rec_pooler.", "recognizer."))}
    assert ours == theirs and list(ours) == list(theirs)
    TextCheckpointer(model, allow_partial=True).load("dld_spotter://teacher_tiny.pth")
    shipped = torch.load(TextCheckpointer(model).path_manager.get_local_path(
        "dld_spotter://teacher_tiny.pth"), weights_only=False)["model"]
    state = model.state_dict()
    loaded = [k for k in state if k.startswith(("backbone.", "roi_heads."))]
    assert loaded and all(torch.equal(state[k], shipped[k].to(state[k].dtype)) for k in loaded)


def test_the_architecture_key_alone_makes_a_segmentation_spotter():
    """The Mask R-CNN spotter's part names do not change it: one key names the family."""
    cfg = load_config(SEG_CONFIG, TINY_OPTS + SEG_TINY + [
        "MODEL.ROI_HEADS.NAME", "TextROIHeads", "MODEL.PROPOSAL_GENERATOR.NAME", "RPN"])
    model = build_model(cfg)
    assert isinstance(model.proposal_generator, TextSegmentationHead)
    assert isinstance(model.roi_heads, TextRecognitionHeads)


@pytest.mark.parametrize("opts, match", [
    (["MODEL.SEG_HEAD.CONV_DIM", "30"], "MODEL.SEG_HEAD.CONV_DIM 30"),
    (["MODEL.SEG_HEAD.IN_FEATURES", "['p2', 'p9']"], r"MODEL.SEG_HEAD.IN_FEATURES \['p9'\]"),
])
def test_a_bad_config_names_the_key_and_the_fix(opts, match):
    cfg = load_config(SEG_CONFIG, TINY_OPTS + SEG_TINY + opts)
    with pytest.raises(ValueError, match=match):
        build_model(cfg)


def test_dld_wraps_the_segmentation_spotter_with_one_key(trained, seg_cfg, synth_dataset,
                                                         tmp_path):
    """configs/synth/dld_tiny.yaml with MODEL.DLD.BASE_ARCHITECTURE "SegTextSpotter": the
    student is a seg spotter that loads the seg teacher's checkpoint; a step trains the
    selector only on L_DRS and the spotter on its own losses plus SKD's; inference maps back."""
    from dld_spotter.modeling import DLDSpotter

    teacher = copy.deepcopy(trained[0]).eval()
    teacher.zero_grad(set_to_none=True)
    weights = tmp_path / "seg_teacher.pth"
    torch.save({"model": teacher.state_dict()}, weights)
    config = tmp_path / "seg_teacher.yaml"
    config.write_text(seg_cfg.dump())
    cfg = load_config(os.path.join(REPO, "configs/synth/dld_tiny.yaml"), tiny_opts(
        synth_dataset, tmp_path, *SEG_TINY, "MODEL.DLD.BASE_ARCHITECTURE", "SegTextSpotter",
        "MODEL.WEIGHTS", str(weights), "MODEL.DLD.TEACHER.CONFIG", str(config),
        "MODEL.DLD.TEACHER.WEIGHTS", str(weights), "MODEL.DLD.DRS.THUMBNAIL_SIZE", "32",
        "MODEL.DLD.DRS.FLOPS", "[6, 5, 4, 3, 2, 1]", "MODEL.DLD.DRS.ACC_DTYPE", "float32"))
    # The student's segmentation head is the teacher config's, inference thresholds included.
    assert cfg.MODEL.SEG_HEAD == seg_cfg.MODEL.SEG_HEAD
    model = build_model(cfg)
    assert isinstance(model, DLDSpotter) and isinstance(model.spotter, SegTextSpotter)
    TextCheckpointer(model).resume_or_load(str(weights), resume=False)  # the selector: new
    assert all(torch.equal(v, teacher.state_dict()[k[len("spotter."):]])
               for k, v in model.state_dict().items() if k.startswith("spotter."))
    model.set_teacher(teacher)
    (batch,) = training_batches(cfg, 1)
    with EventStorage():
        losses = model.train()(batch)
    assert {"loss_seg_prob", "loss_rec", "loss_acc", "loss_flops", "loss_roi", "loss_con",
            "loss_seq"} <= set(losses)
    (losses["loss_acc"] + losses["loss_flops"]).backward(retain_graph=True)
    assert all(p.grad is None for p in model.spotter.parameters())
    model.zero_grad(set_to_none=True)
    sum(v for k, v in losses.items() if k not in ("loss_acc", "loss_flops")).backward()
    assert all(p.grad is None for p in model.selector.parameters())
    assert all(p.grad is None for p in teacher.parameters())
    with torch.no_grad():
        out = model.eval()(batch)
    assert all(o["scale"] in model.scales
               and o["instances"].image_size == (x["height"], x["width"])
               for o, x in zip(out, batch))
