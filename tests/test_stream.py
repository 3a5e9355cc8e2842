"""The synthetic stream and the recognition pre-training: text heights, determinism, word
crops that map back onto their scene, the legibility floor, the pre-trainer's gradients and
checkpoint keys, the trainer's stream loaders, and streams that resume with fresh data."""
import os

import numpy as np
import pytest
import torch
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage
from testing import CROP_OPTS, REPO, TINY_OPTS, pretrain_cfg

from dld_spotter.charset import IGNORE
from dld_spotter.config import load_config
from dld_spotter.data.mapper import TextDatasetMapper
from dld_spotter.data.stream import (
    RenderedCropStream,
    SynthSceneStream,
    WordCropStream,
    cut_word_crops,
    first_crops,
    render_word_crop,
    text_heights,
)
from dld_spotter.data.synth import SynthConfig, _image_rng, find_fonts, generate_image
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.modeling import (
    RecognitionPretrainer,
    SegTextSpotter,
    TextSegmentationHead,
    TextSpotter,
)
from dld_spotter.modeling.roi_heads import jitter_boxes

SMALL = SynthConfig(height=192, width=256)


def test_text_height_of_rotated_rectangles_and_arcs():
    for angle in (0.0, 20.0, 90.0):
        a = np.deg2rad(angle)
        u, v = np.array([np.cos(a), np.sin(a)]), np.array([-np.sin(a), np.cos(a)])
        rect = np.array([0 * u, 60 * u, 60 * u + 12 * v, 12 * v]) + 100
        assert text_heights([rect])[0] == pytest.approx(12.0, abs=1e-6)
    # a band of height 10 along a quarter circle of inner radius 50
    t = np.linspace(0, np.pi / 2, 64)
    band = np.concatenate([np.stack([50 * np.cos(t), 50 * np.sin(t)], 1),
                           np.stack([60 * np.cos(t[::-1]), 60 * np.sin(t[::-1])], 1)])
    assert text_heights([band])[0] == pytest.approx(10.0, rel=0.02)


def test_scene_stream_is_deterministic_and_not_the_file_splits():
    fonts = find_fonts()[:4]
    a = SynthSceneStream(0, "train", "RGB", SMALL, fonts)
    b = SynthSceneStream(0, "train", "RGB", SMALL, fonts)
    first = next(iter(a))
    assert np.array_equal(first["image"], next(iter(b))["image"])
    assert first["annotations"] == next(iter(b))["annotations"]
    assert not np.array_equal(first["image"], a.scene(0, 1, 0)["image"])  # another worker
    assert not np.array_equal(first["image"], a.scene(1, 0, 0)["image"])  # another rank
    held = SynthSceneStream(0, "heldout", "RGB", SMALL, fonts).scene(0, 0, 0)["image"]
    assert not np.array_equal(first["image"], held)
    for split in ("train", "val"):
        image, _ = generate_image(_image_rng(0, split, 0), fonts, SMALL)
        assert image.shape != first["image"].shape or not np.array_equal(image, first["image"])
    bgr = SynthSceneStream(0, "train", "BGR", SMALL, fonts).scene(0, 0, 0)["image"]
    assert np.array_equal(bgr, first["image"][..., ::-1])
    with pytest.raises(ValueError, match="tag"):
        SynthSceneStream(0, "val")


def _mapped_scene(cfg, index=0):
    stream = SynthSceneStream(0, "train", cfg.INPUT.FORMAT, SynthConfig(min_words=6, max_words=10))
    return TextDatasetMapper(cfg, is_train=True)(stream.scene(0, 0, index))


def test_word_crops_map_back_onto_their_scene():
    cfg = pretrain_cfg("INPUT.TEXT_AUG.ROTATE_PROB", "0.0", "INPUT.TEXT_AUG.CROP_PROB", "0.0")
    np.random.seed(0)
    mapped = _mapped_scene(cfg)
    inst = mapped["instances"]
    readable = (inst.gt_texts[:, 0] != IGNORE).numpy()
    floor = float(np.median(inst.gt_text_heights.numpy()[readable]))
    crops = cut_word_crops(mapped, (48, 192), floor, np.random.default_rng(0))
    expected = [i for i in np.flatnonzero(readable) if inst.gt_text_heights[i] >= floor]
    assert len(crops) == len(expected) > 0
    image = mapped["image"].float()
    for crop, i in zip(crops, expected):
        word = crop["instances"]
        assert crop["image"].shape == (3, 48, 192) and len(word) == 1
        assert torch.equal(word.gt_texts[0], inst.gt_texts[i])
        x0, y0, x1, y1 = word.gt_boxes.tensor[0].tolist()
        assert 0 <= x0 < x1 <= 192 and 0 <= y0 < y1 <= 48
        # the box's scale and position give back the scene's box and pixels
        sx0, sy0, sx1, sy1 = inst.gt_boxes.tensor[i].tolist()
        scale = (x1 - x0) / (sx1 - sx0)
        assert scale <= 1.0 + 1e-4
        assert word.gt_text_heights[0].item() == pytest.approx(
            inst.gt_text_heights[i].item() * scale, rel=1e-4)
        cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
        src = image[:, int(round(sy0 + (cy - y0) / scale)), int(round(sx0 + (cx - x0) / scale))]
        assert (crop["image"][:, cy, cx].float() - src).abs().max() < 60


def test_legibility_floor_keeps_low_words_out_of_recognition():
    cfg = pretrain_cfg()
    mapped = _mapped_scene(cfg)
    heights = mapped["instances"].gt_text_heights
    floor = float(heights.median())
    for floor_value, expect in ((0.0, None), (floor, heights >= floor)):
        cfg.defrost()
        cfg.MODEL.REC_HEAD.MIN_TRAIN_HEIGHT = floor_value
        heads = build_model(cfg).roi_heads
        keep = heads.readable(mapped["instances"])
        care = mapped["instances"].gt_texts[:, 0] != IGNORE
        assert torch.equal(keep, care if expect is None else care & expect)
        rois = heads.gt_recognition_rois([mapped["instances"]])[0]
        assert len(rois) == int(keep.sum())


def test_crop_stream_is_deterministic_and_leaves_global_rngs_alone():
    cfg = pretrain_cfg()
    mapper = TextDatasetMapper(cfg, is_train=True)
    fonts = find_fonts()[:4]

    def crops():
        scenes = SynthSceneStream(3, "train", "BGR", SynthConfig(min_words=6, max_words=10), fonts)
        return first_crops(WordCropStream(scenes, mapper, (32, 128), 6.0, shuffle_scenes=2), 12)

    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    a, b = crops(), crops()
    assert np.random.random() == before
    assert len(a) == 12
    for x, y in zip(a, b):
        assert torch.equal(x["image"], y["image"])
        assert torch.equal(x["instances"].gt_texts, y["instances"].gt_texts)
    assert all(c["instances"].gt_text_heights[0] >= 6.0 for c in a)


def _train_pretrainer(cfg, steps=12):
    """(model, crop batch, losses) after ``steps`` optimizer steps on 8 word crops."""
    torch.manual_seed(0)
    model = build_model(cfg).train()
    assert isinstance(model, RecognitionPretrainer)
    mapper = TextDatasetMapper(cfg, is_train=True)
    stream = WordCropStream(SynthSceneStream(0, "train", "BGR", None, find_fonts()[:4]), mapper,
                            (32, 128), cfg.MODEL.REC_HEAD.MIN_TRAIN_HEIGHT)
    batch = first_crops(stream, 8)
    optimizer = TextSpotterTrainer.build_optimizer(cfg, model)
    losses = []
    with EventStorage():
        for _ in range(steps):
            loss = model(batch)["loss_rec"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return model, batch, losses


def _learnt(model):
    """The top-level modules (``roi_heads.*`` one level deeper) that received gradients."""
    return {".".join(n.split(".")[:2 if n.startswith("roi_heads") else 1])
            for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum()}


def test_pretrainer_trains_backbone_and_recognizer_only_and_keeps_spotter_keys(tmp_path):
    model, batch, losses = _train_pretrainer(pretrain_cfg())
    assert losses[-1] < 0.8 * losses[0]
    assert _learnt(model) == {"backbone", "roi_heads.recognizer"}
    readings = model.eval().read_ground_truth(batch)
    assert len(readings) == 8 and all(isinstance(r, str) for _, r in readings)
    spotter_cfg = load_config(os.path.join(REPO, "configs/synth/teacher_tiny.yaml"), TINY_OPTS)
    spotter = build_model(spotter_cfg)
    assert type(spotter) is TextSpotter
    spotter.load_state_dict(model.state_dict(), strict=True)  # the same keys and shapes


def test_pretrainer_with_a_frozen_backbone_trains_the_recognizer_alone():
    cfg = pretrain_cfg("MODEL.REC_PRETRAIN.FREEZE_BACKBONE", "True")
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in build_model(cfg).backbone.state_dict().items()}
    model, _, losses = _train_pretrainer(cfg)
    assert losses[-1] < 0.8 * losses[0]
    assert _learnt(model) == {"roi_heads.recognizer"}
    assert model.training and not model.backbone.training
    assert not any(m.training for m in model.backbone.modules())
    after = model.backbone.state_dict()  # weights and BatchNorm statistics alike
    assert any("running_mean" in k for k in after)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_pretrainer_with_the_seg_spotters_parts_trains_its_recognizer_and_keeps_its_keys():
    cfg = load_config(os.path.join(REPO, "configs/synth/seg_teacher_tiny_recognizer.yaml"),
                      CROP_OPTS)
    model, _, losses = _train_pretrainer(cfg)
    assert isinstance(model.proposal_generator, TextSegmentationHead)
    assert losses[-1] < 0.95 * losses[0]  # jittered boxes: a noisier task than exact ones
    assert _learnt(model) == {"roi_heads.recognizer"}
    spotter = build_model(load_config(os.path.join(REPO, "configs/synth/seg_teacher_tiny.yaml"),
                                      TINY_OPTS))
    assert type(spotter) is SegTextSpotter
    spotter.load_state_dict(model.state_dict(), strict=True)


def test_trainer_streams_scenes_and_crops():
    cfg = pretrain_cfg()
    batch = next(iter(TextSpotterTrainer.build_train_loader(cfg)))
    assert len(batch) == 8 and all(x["image"].shape == (3, 32, 128) for x in batch)
    cfg.defrost()
    cfg.INPUT.WORD_CROPS.ENABLED = False
    cfg.SOLVER.IMS_PER_BATCH = 2
    batch = next(iter(TextSpotterTrainer.build_train_loader(cfg)))
    assert len(batch) == 2 and all(x["instances"].has("gt_text_heights") for x in batch)
    cfg.DATASETS.TRAIN = ("synth_stream", "synth_train")
    with pytest.raises(ValueError, match="cannot be mixed"):
        TextSpotterTrainer.build_train_loader(cfg)


def test_heldout_crop_accuracy_is_the_pretrainers_evaluation():
    cfg = pretrain_cfg("TEST.TEXT.HELDOUT_CROPS", "10")
    model = build_model(cfg)
    result = TextSpotterTrainer.test(cfg, model)["heldout_crops"]
    assert result["num_words"] == 10 and 0.0 <= result["word_accuracy"] <= 100.0
    assert model.training  # left as it was


def test_stream_images_are_read_from_memory():
    cfg = pretrain_cfg()
    scene = SynthSceneStream(0, "train", "BGR", SMALL, find_fonts()[:4]).scene(0, 0, 0)
    assert not os.path.exists(scene["file_name"])
    mapped = TextDatasetMapper(cfg, is_train=True)(scene)
    assert mapped["image"].dtype == torch.uint8 and "image" in scene  # input left intact
    assert len(mapped["instances"]) > 0


def test_a_generator_error_names_the_scene():
    bad = SynthSceneStream(0, "train", "BGR", SynthConfig(min_text_height=-1.0), find_fonts()[:1])
    with pytest.raises(RuntimeError, match=r"synth_stream seed 0 train 0/0/0.*scene\(0, 0, 0\)"):
        next(iter(bad))


def test_rendered_crops_are_whole_crop_words_deterministic_per_seed():
    cfg = pretrain_cfg("INPUT.WORD_CROPS.SOURCE", "rendered")
    batch = next(iter(TextSpotterTrainer.build_train_loader(cfg)))
    assert all(x["instances"].gt_boxes.tensor.tolist() == [[0, 0, 128, 32]] for x in batch)
    charset = build_model(cfg).roi_heads.charset
    a = first_crops(RenderedCropStream(0, "train", charset, (32, 128), fonts=find_fonts()[:3]), 5)
    b = first_crops(RenderedCropStream(0, "train", charset, (32, 128), fonts=find_fonts()[:3]), 5)
    c = first_crops(RenderedCropStream(0, "heldout", charset, (32, 128), fonts=find_fonts()[:3]), 5)
    for x, y, z in zip(a, b, c):
        assert torch.equal(x["image"], y["image"]) and not torch.equal(x["image"], z["image"])
        inst = x["instances"]
        assert inst.gt_boxes.tensor.tolist() == [[0.0, 0.0, 128.0, 32.0]]
        assert inst.gt_masks.polygons[0][0].reshape(-1, 2).max(0).tolist() == [128.0, 32.0]
        assert charset.decode(inst.gt_texts[0].tolist()) != ""
        image = x["image"].float()
        assert image.amax() - image.amin() > 60  # ink contrasts with its background
    cfg.defrost()
    cfg.INPUT.WORD_CROPS.SOURCE = "files"
    with pytest.raises(ValueError, match="SOURCE"):
        TextSpotterTrainer.build_train_loader(cfg)


# The streams of a resumed training continue with fresh data; iteration 0 is unchanged.
def test_resumed_streams_continue_with_fresh_data(tmp_path):
    fonts = find_fonts()[:4]
    stream = SynthSceneStream(0, "train", "RGB", SMALL, fonts)
    fresh = stream.scene(0, 0, 0)["image"]
    assert np.array_equal(fresh, generate_image(np.random.default_rng([0, 2, 0, 0, 0]), fonts,
                                                SMALL)[0])  # the seeds the shipped weights had
    stream.start_iter = 7
    resumed = stream.scene(0, 0, 0)["image"]
    assert np.array_equal(resumed, generate_image(np.random.default_rng([0, 2, 0, 0, 0, 7]),
                                                  fonts, SMALL)[0])
    assert resumed.shape != fresh.shape or not np.array_equal(resumed, fresh)

    cfg = pretrain_cfg("INPUT.WORD_CROPS.SOURCE", "rendered", "OUTPUT_DIR", str(tmp_path))
    trainer = TextSpotterTrainer(cfg)
    first = next(iter(trainer.data_loader))
    image, _ = render_word_crop(np.random.default_rng([0, 2, 0, 0]), find_fonts(), (32, 128),
                                0.5)
    assert torch.equal(first[0]["image"],
                       torch.as_tensor(np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))))
    trainer.iter = 4
    trainer.checkpointer.save("model_0000004")
    resumed = TextSpotterTrainer(cfg)
    resumed.resume_or_load(resume=True)
    assert resumed.start_iter == resumed.data_loader.stream.start_iter == 5
    again = next(iter(resumed.data_loader))
    assert not torch.equal(again[0]["image"], first[0]["image"])
    crops = [RenderedCropStream(0, "train", trainer.model.roi_heads.charset, (32, 128), fonts=fonts)
             for _ in range(2)]
    crops[1].start_iter = 5
    fresh, resumed = (first_crops(c, 1)[0]["image"] for c in crops)
    assert not torch.equal(fresh, resumed)


def test_jittered_boxes_move_each_side_by_the_asked_deviation_of_the_box_height():
    boxes = torch.tensor([[10.0, 20.0, 110.0, 40.0]]).repeat(20000, 1)  # height 20
    generator = torch.Generator().manual_seed(0)
    moved = jitter_boxes(boxes, (0.25, 0.1), generator)
    shift = (moved - boxes) / 20.0
    clipped_std = 0.9594  # of a standard normal clipped to [-2, 2]
    assert shift.mean(0).abs().max() < 0.01
    assert torch.allclose(shift.std(0), torch.tensor([0.25, 0.1, 0.25, 0.1]) * clipped_std,
                          rtol=0.03)
    assert shift.abs().max(0).values.tolist() == pytest.approx([0.5, 0.2, 0.5, 0.2], abs=1e-4)
    assert torch.equal(jitter_boxes(boxes, (0.0, 0.0)), boxes)
    narrow = jitter_boxes(torch.tensor([[0.0, 0.0, 4.0, 40.0]]).repeat(1000, 1), (2.0, 0.0))
    assert ((narrow[:, 2] - narrow[:, 0]) >= 2.0 - 1e-5).all()  # at least half its width


def test_pretrainer_reads_jittered_boxes_in_training_only(monkeypatch):
    cfg = pretrain_cfg("MODEL.REC_HEAD.BOX_JITTER", "(0.25, 0.1)")
    model = build_model(cfg).train()
    batch = first_crops(WordCropStream(SynthSceneStream(0, "train", "BGR", None,
                                                        find_fonts()[:4]),
                                       TextDatasetMapper(cfg, is_train=True), (32, 128), 0.0), 4)
    seen = []
    pool = model.roi_heads.masked_roi_features
    monkeypatch.setattr(model.roi_heads, "masked_roi_features",
                        lambda f, rois: seen.append(rois) or pool(f, rois))
    gt = torch.cat([x["instances"].gt_boxes.tensor for x in batch])
    with EventStorage():
        model(batch)
    trained = torch.cat([r.proposal_boxes.tensor for r in seen[-1]])
    assert trained.shape == gt.shape and not torch.allclose(trained, gt)
    model.eval().read_ground_truth(batch)
    assert torch.equal(torch.cat([r.proposal_boxes.tensor for r in seen[-1]]), gt)
