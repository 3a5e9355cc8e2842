"""The base spotter end to end: losses, inference in original coordinates, checkpoints,
DefaultPredictor, the training entry point (1 and 2 processes, interruption, resume)."""
import os

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog
from detectron2.engine import DefaultPredictor, HookBase
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances, pairwise_ioa
from detectron2.utils.events import EventStorage
from testing import REPO, run_train_net, tiny_opts, training_batches, with_synth_root

from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.modeling import TextROIHeads, TextSpotter
from dld_spotter.modeling.roi_heads import contained_detections
from dld_spotter.structures import TextList


@pytest.fixture
def tiny_cfg(synth_dataset, tmp_path):
    return load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                       tiny_opts(synth_dataset, tmp_path))


def test_model_is_a_registered_text_spotter(tiny_cfg):
    model = build_model(tiny_cfg)
    assert isinstance(model, TextSpotter) and isinstance(model.roi_heads, TextROIHeads)
    assert model.roi_heads.rec_pooler.output_size == (8, 32)
    assert len(model.roi_heads.recognizer.encoder.convs) == 6


def test_total_loss_falls_on_synthetic_data(tiny_cfg):
    torch.manual_seed(0)
    model = build_model(tiny_cfg).train()
    optimizer = TextSpotterTrainer.build_optimizer(tiny_cfg, model)
    batches = training_batches(tiny_cfg, 3)
    history = []
    with EventStorage():
        for step in range(45):
            losses = model(batches[step % 3])
            assert set(losses) >= {"loss_rec", "loss_mask", "loss_cls", "loss_rpn_cls"}
            total = sum(losses.values())
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            history.append({k: v.item() for k, v in losses.items()})
    for h in history:
        h["total"] = sum(h.values())
    first, last = history[:3], history[-3:]
    for key, factor in (("total", 0.8), ("loss_rec", 0.8), ("loss_rpn_cls", 0.8),
                        ("loss_mask", 0.95)):
        before = np.mean([h[key] for h in first])
        after = np.mean([h[key] for h in last])
        assert after < factor * before, f"{key}: {before:.3f} -> {after:.3f}"


def test_recognition_ignores_dont_care_and_reaches_its_parameters(tiny_cfg):
    torch.manual_seed(0)
    model = build_model(tiny_cfg).train()
    batch = training_batches(tiny_cfg, 1)[0]
    for x in batch:  # every instance don't-care: recognition has nothing to learn
        x["instances"].gt_texts[:] = -1
    with EventStorage():
        losses = model(batch)
    assert losses["loss_rec"].item() == 0.0
    losses["loss_rec"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0
               for p in model.roi_heads.recognizer.parameters())


def test_recognizer_learning_rate_factor(tiny_cfg):
    cfg = tiny_cfg.clone()
    cfg.SOLVER.REC_LR_FACTOR = 3.0
    for name in ("AdamW", "SGD"):
        cfg.SOLVER.OPTIMIZER = name
        model = build_model(cfg)
        optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
        rec = {id(p) for p in model.roi_heads.recognizer.parameters()}
        lrs = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
        assert len(lrs) == sum(1 for _ in model.parameters())
        assert all(lr == pytest.approx(3 * cfg.SOLVER.BASE_LR if i in rec else
                                       cfg.SOLVER.BASE_LR) for i, lr in lrs.items())


def predict(model, image, height, width):
    with torch.no_grad():
        return model([{"image": image, "height": height, "width": width}])[0]["instances"]


def test_inference_returns_texts_in_original_coordinates(tiny_cfg):
    cfg = tiny_cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # an untrained model: keep every box
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    image = torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8)
    out = predict(model, image, 320, 448)  # the original was twice the network input
    assert len(out) > 0
    assert out.image_size == (320, 448) and out.pred_masks.shape[1:] == (320, 448)
    assert isinstance(out.pred_texts, TextList) and len(out.pred_texts) == len(out)
    assert all(isinstance(t, str) for t in out.pred_texts)
    assert out.text_scores.shape == (len(out),)
    assert ((out.text_scores >= 0) & (out.text_scores <= 1)).all()
    boxes = out.pred_boxes.tensor
    assert boxes[:, 2].max() <= 448 and boxes[:, 3].max() <= 320
    # The same boxes at the network's resolution are exactly half.
    small = predict(model, image, 160, 224)
    assert torch.allclose(small.pred_boxes.tensor * 2, boxes, atol=1e-3)
    assert small.pred_texts == out.pred_texts
    subset = out[out.scores > out.scores.median()]
    assert len(subset.pred_texts) == len(subset)


def test_contained_detections_by_hand():
    boxes = Boxes(torch.tensor([
        [0.0, 0.0, 100.0, 20.0],    # 0: the whole word
        [10.0, 2.0, 40.0, 18.0],    # 1: a fragment fully inside it, lower score -> dropped
        [90.0, 0.0, 110.0, 20.0],   # 2: half inside it -> kept at 0.8
        [60.0, 0.0, 100.0, 20.0],   # 3: inside the word but scored above it -> kept
        [60.0, 0.0, 100.0, 20.0],   # 4: the same box as 3, scored equal: the later one goes
    ]))
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95, 0.95])
    assert contained_detections(boxes, scores, 0.8).tolist() == [False, True, False, False, True]
    # At 0.45 box 2 (half inside 0 and 3) goes too; box 0 (0.4 inside 3) stays.
    assert contained_detections(boxes, scores, 0.45).tolist() == [False, True, True, False, True]
    assert not contained_detections(boxes, scores, 1.0).any()
    assert contained_detections(boxes[:1], scores[:1], 0.5).tolist() == [False]


def test_inference_drops_contained_detections(tiny_cfg):
    cfg = tiny_cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # an untrained model: many overlapping boxes
    cfg.MODEL.ROI_HEADS.CONTAINMENT_THRESH_TEST = 1.0
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    image = torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8)
    every = predict(model, image, 160, 224)
    model.roi_heads.containment_thresh = 0.6
    kept = predict(model, image, 160, 224)
    dropped = contained_detections(every.pred_boxes, every.scores, 0.6)
    assert 0 < dropped.sum() < len(every)
    assert torch.equal(kept.pred_boxes.tensor, every.pred_boxes.tensor[~dropped])
    assert kept.pred_texts == every[~dropped].pred_texts
    inside = pairwise_ioa(kept.pred_boxes, kept.pred_boxes).T  # [i, j]: box i inside box j
    higher = kept.scores[None, :] > kept.scores[:, None]
    assert not ((inside > 0.6) & higher).any()


def test_inference_keeps_the_detections_the_recognizer_confirms(tiny_cfg):
    cfg = tiny_cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    image = torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8)
    every = predict(model, image, 160, 224)
    thresh = every.text_scores.median().item()
    model.roi_heads.rec_score_thresh = thresh
    kept = predict(model, image, 160, 224)
    confirmed = every.text_scores >= thresh
    assert 0 < len(kept) == confirmed.sum() < len(every)
    assert torch.equal(kept.pred_boxes.tensor, every.pred_boxes.tensor[confirmed])
    assert kept.pred_texts == every[confirmed].pred_texts
    # Given boxes (recognition on ground-truth boxes) are all read.
    given = Instances((160, 224), pred_boxes=every.pred_boxes,
                      pred_classes=torch.zeros(len(every), dtype=torch.long))
    with torch.no_grad():
        (read,) = model.inference([{"image": image, "height": 160, "width": 224}], [given])
    assert len(read["instances"]) == len(every)


def test_ctc_aid_trains_with_the_spotter_and_reads_its_detections(tiny_cfg):
    cfg = tiny_cfg.clone()
    cfg.MODEL.REC_HEAD.CTC_WEIGHT = 0.5
    cfg.MODEL.REC_HEAD.READER = "ctc"
    cfg.MODEL.REC_HEAD.BEAM_WIDTH = 1
    cfg.MODEL.REC_HEAD.SAMPLING_PROB = 0.5
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    torch.manual_seed(0)
    model = build_model(cfg).train()
    with EventStorage():
        losses = model(training_batches(cfg, 1)[0])
    assert {"loss_rec", "loss_ctc"} <= set(losses) and losses["loss_ctc"].item() > 0
    losses["loss_ctc"].backward()
    recognizer = model.roi_heads.recognizer
    assert recognizer.ctc.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in recognizer.decoder.parameters())
    out = predict(model.eval(), torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8),
                  160, 224)
    assert len(out) > 0 and len(out.pred_texts) == len(out)
    assert ((out.text_scores >= 0) & (out.text_scores <= 1)).all()


def test_checkpoint_round_trip_gives_identical_predictions(tiny_cfg, tmp_path):
    cfg = tiny_cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    torch.manual_seed(0)
    model = build_model(cfg)
    with EventStorage():  # a few steps so that BN statistics are not the defaults
        model.train()
        optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
        for batch in training_batches(cfg, 2):
            loss = sum(model(batch).values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    DetectionCheckpointer(model, save_dir=str(tmp_path)).save("m")
    torch.manual_seed(123)
    clone = build_model(cfg).eval()
    DetectionCheckpointer(clone).load(str(tmp_path / "m.pth"))
    image = torch.randint(0, 255, (3, 160, 224), dtype=torch.uint8)
    a, b = predict(model, image, 160, 224), predict(clone, image, 160, 224)
    assert len(a) > 0 and len(a) == len(b)
    assert torch.equal(a.pred_boxes.tensor, b.pred_boxes.tensor)
    assert torch.equal(a.pred_masks, b.pred_masks)
    assert a.pred_texts == b.pred_texts and torch.equal(a.text_scores, b.text_scores)


def test_default_predictor_returns_pred_texts(tiny_cfg, synth_dataset):
    cfg = tiny_cfg.clone()
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    predictor = DefaultPredictor(cfg)
    record = DatasetCatalog.get(synth_dataset[1])[0]
    import cv2

    image = cv2.imread(record["file_name"])
    out = predictor(image)["instances"]
    assert out.image_size == image.shape[:2]
    assert out.has("pred_texts") and out.has("text_scores") and out.has("pred_masks")


class StopAt(HookBase):
    def __init__(self, iteration):
        self.iteration = iteration

    def after_step(self):
        if self.trainer.iter == self.iteration:
            raise KeyboardInterrupt


def test_interrupted_training_is_saved_and_resumes(synth_dataset, tmp_path):
    cfg = load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"),
                      tiny_opts(synth_dataset, tmp_path, "SOLVER.MAX_ITER", "6",
                                "SOLVER.CHECKPOINT_PERIOD", "100"))
    trainer = TextSpotterTrainer(cfg)
    trainer.register_hooks([StopAt(2)])
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    saved = torch.load(tmp_path / "model_interrupted.pth", weights_only=False)
    assert saved["trainer"]["iteration"] == 2  # stopped after step 2
    resumed = TextSpotterTrainer(cfg)
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == 3
    for a, b in zip(trainer.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)


def test_train_net_two_processes_then_eval_only(synth_dataset, tmp_path):
    config = os.path.join(REPO, "configs/synth/teacher_tiny.yaml")
    opts = tiny_opts(synth_dataset, tmp_path, "SOLVER.MAX_ITER", "4")
    # Registered names exist only in this process: point the children at the files instead.
    root = synth_dataset[2]
    result = run_train_net("--num-gpus", "2", "--config-file", config,
                           *with_synth_root(opts, root))
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.isfile(tmp_path / "model_final.pth")
    assert "e2e_hmean" in result.stdout + result.stderr
    result = run_train_net("--eval-only", "--config-file", config,
                           *with_synth_root(opts, root), "MODEL.WEIGHTS",
                           str(tmp_path / "model_final.pth"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.isfile(tmp_path / "inference" / "synth_val" / "text_results.json")

