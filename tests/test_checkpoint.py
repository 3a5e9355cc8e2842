"""Nothing silent, nothing lost: strict weights, the predictor's input contract, unreadable
training words, SIGTERM, atomic demo outputs, unreadable images, the OUTPUT_DIR lock, corrupt
checkpoints that name themselves, non-finite ground truth, and streams that resume with fresh
data."""
import contextlib
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from test_stream import SMALL, pretrain_cfg
from test_text_spotter import REPO, TINY_OPTS, _with_synth_root, tiny_opts

from dld_spotter.checkpoint import TextCheckpointer, UnreadableCheckpoint, load_strict
from dld_spotter.config import load_config
from dld_spotter.data import load_text_json
from dld_spotter.data.stream import (
    RenderedCropStream,
    SynthSceneStream,
    first_crops,
    render_word_crop,
)
from dld_spotter.data.synth import find_fonts, generate_image
from dld_spotter.distill import build_teacher
from dld_spotter.engine import TextPredictor, TextSpotterTrainer
from dld_spotter.files import LOCK_FILE

CONFIG = os.path.join(REPO, "configs/synth/teacher_tiny.yaml")
TRAIN_NET = os.path.join(REPO, "projects/DLD/train_net.py")


def _load_demo():
    """projects/DLD/demo.py (not a package) as a module."""
    path = os.path.join(REPO, "projects/DLD/demo.py")
    spec = importlib.util.spec_from_file_location("demo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


@contextlib.contextmanager
def logged(name):
    """The messages that logger ``name`` emits in the block (whatever its propagation)."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    log = logging.getLogger(name)
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def messages(records):
    return "\n".join(r.getMessage() for r in records)


@pytest.fixture(scope="module")
def weights(synth_dataset, tmp_path_factory):
    """A config (every box kept) and the checkpoint of a randomly initialised model of it."""
    folder = tmp_path_factory.mktemp("weights")
    cfg = load_config(CONFIG, tiny_opts(synth_dataset, folder,
                                        "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0",
                                        "TEST.DETECTIONS_PER_IMAGE", "8"))
    torch.manual_seed(0)
    TextCheckpointer(build_model(cfg), str(folder)).save("model")
    cfg.MODEL.WEIGHTS = str(folder / "model.pth")
    return cfg


def image_of(synth_dataset):
    return cv2.imread(DatasetCatalog.get(synth_dataset[1])[0]["file_name"])


# 1. Inference loads strictly; training says what it starts from.
def test_strict_loading_refuses_mismatched_weights(weights, tmp_path):
    TextPredictor(weights)  # its own checkpoint loads
    cfg = weights.clone()
    cfg.MODEL.WEIGHTS = ""
    with pytest.raises(ValueError, match="MODEL.WEIGHTS is empty"):
        TextPredictor(cfg)
    other = weights.clone()
    other.MODEL.REC_HEAD.LSTM_HIDDEN = 48
    with pytest.raises(ValueError, match=r"model\.pth does not fit.*shape"):
        TextPredictor(other)
    unrelated = tmp_path / "unrelated.pth"
    torch.save({"model": {"head.weight": torch.zeros(3)}}, unrelated)
    cfg.MODEL.WEIGHTS = str(unrelated)
    with pytest.raises(ValueError, match="unrelated.pth does not fit.*not in the model: head"):
        TextPredictor(cfg)
    with logged("dld_spotter.checkpoint") as records:
        TextPredictor(cfg, allow_partial=True)
    assert "unrelated.pth loaded partially" in messages(records)
    # Training: unexpected keys are refused, missing ones start from their initialisation.
    cfg.OUTPUT_DIR = str(tmp_path)
    with pytest.raises(ValueError, match="unrelated.pth does not fit"):
        TextSpotterTrainer(cfg).resume_or_load(resume=False)
    state = torch.load(weights.MODEL.WEIGHTS)["model"]
    subset = tmp_path / "no_recognizer.pth"
    torch.save({"model": {k: v for k, v in state.items() if "recognizer" not in k}}, subset)
    cfg.MODEL.WEIGHTS = str(subset)
    with logged("dld_spotter.checkpoint") as records:
        TextSpotterTrainer(cfg).resume_or_load(resume=False)
    assert "no weights for roi_heads.recognizer" in messages(records)
    cfg.MODEL.WEIGHTS = ""
    with logged("dld_spotter.checkpoint") as records:
        TextSpotterTrainer(cfg).resume_or_load(resume=False)
    assert [r.getMessage() for r in records] == [
        "MODEL.WEIGHTS is empty: the model starts from random initialisation"]


# 2. The predictor's input matrix: dtype x channels x layout.
def test_predictor_takes_any_image_layout_or_says_what_it_got(weights, synth_dataset):
    predictor = TextPredictor(weights)
    bgr = image_of(synth_dataset)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    grey_bgr = np.repeat(grey[:, :, None], 3, axis=2)
    bgra = np.concatenate([bgr, np.full_like(bgr[:, :, :1], 255)], axis=2)

    def predicted(image, channels="BGR"):
        out = predictor(image, channels)["instances"]
        assert out.image_size == bgr.shape[:2]
        return out.pred_boxes.tensor, out.pred_texts

    from_bgr, from_grey = predicted(bgr), predicted(grey_bgr)
    assert len(from_bgr[0]) > 0
    layouts = [  # (name, image, its channel order, what the model sees)
        ("BGR", bgr, "BGR", from_bgr), ("RGB", bgr[:, :, ::-1], "RGB", from_bgr),
        ("BGRA", bgra, "BGR", from_bgr), ("RGBA", bgra[:, :, [2, 1, 0, 3]], "RGB", from_bgr),
        ("grey", grey, "BGR", from_grey), ("grey (H, W, 1)", grey[:, :, None], "RGB", from_grey)]
    dtypes = {"uint8": lambda x: x, "float32 in [0, 1]": lambda x: x.astype(np.float32) / 255,
              "float64 in [0, 255]": lambda x: x.astype(np.float64)}
    for name, image, channels, (want_boxes, want_texts) in layouts:
        for dtype, convert in dtypes.items():
            got_boxes, got_texts = predicted(convert(image), channels)
            assert torch.equal(got_boxes, want_boxes) and got_texts == want_texts, (name, dtype)
    for image, error, match in (
            (bgr.transpose(2, 0, 1), ValueError, r"looks \(C, H, W\).*transpose"),
            (torch.from_numpy(bgr), TypeError, "torch.Tensor"),
            (None, TypeError, "cv2.imread returns None"),
            (bgr.astype(np.uint16), ValueError, "dtype uint16"),
            (bgr[:, :, :2], ValueError, r"shape \(\d+, \d+, 2\)"),
            (bgr * 2.0, ValueError, r"outside \[0, 255\]"),
            (np.full(bgr.shape, np.nan), ValueError, "not finite"),
            ([[0, 1]], TypeError, "got a list")):
        with pytest.raises(error, match=match):
            predictor(image)
    with pytest.raises(ValueError, match="channels"):
        predictor(bgr, "BRG")


# 3. Training words the charset cannot read.
def test_training_on_unreadable_words_fails_before_training(synth_dataset, tmp_path):
    cfg = load_config(CONFIG, tiny_opts(synth_dataset, tmp_path, "MODEL.TEXT.CHARSET", "#%"))
    with pytest.raises(ValueError, match=rf"{synth_dataset[0]}.*none of its \d+ words.*"
                                         "MODEL.TEXT.CHARSET '#%'"):
        TextSpotterTrainer.build_train_loader(cfg)
    cfg.MODEL.TEXT.CHARSET = "abcdefghijklmnopqrstuvwxyz"  # lower case only: some words
    with logged("dld_spotter.engine.trainer") as records:
        TextSpotterTrainer.build_train_loader(cfg)
    readable, total = map(int, re.search(r"(\d+) of (\d+) words readable",
                                         messages(records)).groups())
    assert 0 < readable < total
    stream = pretrain_cfg("MODEL.TEXT.CHARSET", "#%")
    with pytest.raises(ValueError, match="synth_stream.*none of its 256 words"):
        TextSpotterTrainer.build_train_loader(stream)


# 4. SIGTERM saves like Ctrl-C, and --resume continues after it.
def sigterm_opts(synth_dataset, output_dir, *extra):
    opts = _with_synth_root(tiny_opts(synth_dataset, output_dir, "SOLVER.MAX_ITER", "500",
                                      "SOLVER.CHECKPOINT_PERIOD", "2", *extra), synth_dataset[2])
    opts[opts.index("DATASETS.TEST") + 1] = "()"
    return opts


def train_net_until_sigterm(output_dir, *args, timeout=180):
    """Run train_net.py in a session of its own and, once it has saved its first checkpoint,
    SIGTERM the session's processes (as SLURM does: the ranks and their loader workers too);
    its exit status and output."""
    log_file = os.path.join(output_dir, "train_net.out")
    with open(log_file, "w") as out:
        proc = subprocess.Popen([sys.executable, TRAIN_NET, *args], stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True,
                                env=dict(os.environ, PYTHONWARNINGS="ignore"))
    try:
        deadline = time.monotonic() + timeout
        while not os.path.exists(os.path.join(output_dir, "model_0000001.pth")):
            assert proc.poll() is None and time.monotonic() < deadline, open(log_file).read()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, open(log_file).read()


def test_sigterm_saves_the_training_and_resume_continues(synth_dataset, tmp_path):
    opts = sigterm_opts(synth_dataset, tmp_path, "DATALOADER.NUM_WORKERS", "1")
    returncode, out = train_net_until_sigterm(tmp_path, "--config-file", CONFIG, *opts)
    assert returncode == 143, out[-3000:]
    saved = torch.load(tmp_path / "model_interrupted.pth", weights_only=False)
    stopped = saved["trainer"]["iteration"]
    assert stopped >= 1 and (tmp_path / "last_checkpoint").read_text() == "model_interrupted.pth"
    log = (tmp_path / "log.txt").read_text()  # the project's messages reach log.txt
    assert f"Training stopped at iteration {stopped}" in log and "words readable" in log
    assert not (tmp_path / LOCK_FILE).exists()  # released at exit
    opts[opts.index("SOLVER.MAX_ITER") + 1] = str(stopped + 3)
    result = subprocess.run([sys.executable, TRAIN_NET, "--resume", "--config-file", CONFIG, *opts],
                            capture_output=True, text=True, timeout=120, cwd=REPO,
                            env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Starting training from iteration {stopped + 1}" in result.stdout + result.stderr
    final = torch.load(tmp_path / "model_final.pth", weights_only=False)
    assert final["trainer"]["iteration"] == stopped + 2


def test_sigterm_saves_a_two_process_training(synth_dataset, tmp_path):
    opts = sigterm_opts(synth_dataset, tmp_path, "DATALOADER.NUM_WORKERS", "1")
    returncode, out = train_net_until_sigterm(tmp_path, "--num-gpus", "2", "--config-file",
                                              CONFIG, *opts)
    assert returncode != 0 and "Training stopped at iteration" in out, out[-3000:]
    assert not (tmp_path / LOCK_FILE).exists()  # released by the rank that held it
    saved = torch.load(tmp_path / "model_interrupted.pth", weights_only=False)
    assert saved["trainer"]["iteration"] >= 1


# 5. and 6. The demo's outputs survive a failed re-run; unreadable images can be skipped.
def run_demo(weights, inputs, output, *flags):
    return demo.main(["--config-file", CONFIG, "--input", *map(str, inputs), "--output",
                      str(output), *flags, "--opts", *TINY_OPTS, "MODEL.WEIGHTS",
                      weights.MODEL.WEIGHTS, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])


def test_failed_demo_rerun_keeps_the_previous_predictions(weights, synth_dataset, tmp_path):
    good = DatasetCatalog.get(synth_dataset[1])[0]["file_name"]
    bad = tmp_path / "truncated.jpg"
    bad.write_bytes(open(good, "rb").read()[:100])
    out = tmp_path / "demo"
    assert run_demo(weights, [good], out)
    before = (out / "predictions.json").read_bytes()
    drawing = out / (os.path.splitext(os.path.basename(good))[0] + "_spotted.jpg")
    assert cv2.imread(str(drawing)) is not None
    with pytest.raises(OSError, match="truncated.jpg"):
        run_demo(weights, [good, bad], out)
    assert (out / "predictions.json").read_bytes() == before
    partial = json.loads((out / "predictions_partial.json").read_text())
    assert partial == json.loads(before)  # what the stopped run spotted is kept apart
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]
    assert not demo.write_records(str(out / "predictions.json"), [])
    assert (out / "predictions.json").read_bytes() == before


def test_demo_skips_unreadable_images_and_exits_non_zero(weights, synth_dataset, tmp_path):
    good = DatasetCatalog.get(synth_dataset[1])[0]["file_name"]
    empty, bad = tmp_path / "empty.jpg", tmp_path / "corrupt.png"
    empty.write_bytes(b"")
    bad.write_bytes(b"not an image")
    out = tmp_path / "demo"
    with pytest.raises(SystemExit, match=r"2 of 3 image\(s\).*\n  .*empty.jpg\n  .*corrupt"):
        run_demo(weights, [empty, good, bad], out, "--skip-bad-images")
    records = json.loads((out / "predictions.json").read_text())
    assert records and {r["file_name"] for r in records} == {good}


# 7. One training run per OUTPUT_DIR.
def test_output_dir_lock_refuses_a_second_run(synth_dataset, tmp_path):
    cfg = load_config(CONFIG, tiny_opts(synth_dataset, tmp_path))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dld_spotter.files import lock_output_dir;"
         f"lock_output_dir({str(tmp_path)!r}); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RuntimeError, match=rf"in use by process {holder.pid}.*{LOCK_FILE}"):
            TextSpotterTrainer(cfg)
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, stale
        holder.wait()
    assert (tmp_path / LOCK_FILE).exists()
    with logged("dld_spotter.files") as records:
        TextSpotterTrainer(cfg)
    assert f"process {holder.pid}, which locked this OUTPUT_DIR, is gone" in messages(records)
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    TextSpotterTrainer(cfg)  # the same process again


# 8. A corrupt or truncated checkpoint names itself.
def test_unreadable_checkpoints_name_the_file(weights, synth_dataset, tmp_path):
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(open(weights.MODEL.WEIGHTS, "rb").read()[:5000])
    cfg = weights.clone()
    cfg.MODEL.WEIGHTS = str(truncated)
    with pytest.raises(ValueError, match="truncated.pth: not a readable checkpoint") as error:
        TextPredictor(cfg)
    assert "weights_only" not in str(error.value)
    config = tmp_path / "teacher.yaml"
    config.write_text(weights.dump())
    with pytest.raises(ValueError, match="truncated.pth: not a readable checkpoint.*teacher"):
        build_teacher(str(config), str(truncated), "cpu")
    # --resume: the last checkpoint is truncated; the previous readable one is named.
    run = tmp_path / "run"
    cfg = load_config(CONFIG, tiny_opts(synth_dataset, run))
    trainer = TextSpotterTrainer(cfg)
    trainer.checkpointer.save("model_0000001")
    (run / "model_0000003.pth").write_bytes(truncated.read_bytes())
    trainer.checkpointer.tag_last_checkpoint("model_0000003.pth")
    with pytest.raises(UnreadableCheckpoint, match=r"model_0000003.pth: not a readable.*newest "
                                                   r"readable checkpoint is .*model_0000001.pth"):
        TextSpotterTrainer(cfg).resume_or_load(resume=True)
    model = build_model(cfg)
    with pytest.raises(FileNotFoundError, match="gone.pth.*a hint"):
        load_strict(model, str(tmp_path / "gone.pth"), "a hint")


# 9. Non-finite ground truth fails at load, naming the file, the image and the annotation.
def test_non_finite_coordinates_fail_at_load(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    for bad in ("NaN", "Infinity"):
        path = tmp_path / "split.json"
        path.write_text('{"images": [{"id": 3, "file_name": "a.jpg", "height": 40, "width": 50}],'
                        ' "annotations": [{"id": 7, "image_id": 3, "text": "Hi", "segmentation":'
                        f' [[0, 0, 10, 0, 10, {bad}, 0, 10]]}}]}}')
        with pytest.raises(ValueError, match=r"split.json: annotation 7 \(image 3\).*NaN or "
                                             "infinite"):
            load_text_json(str(path), str(tmp_path))
    path.write_text('{"images": [{"id": 3, "file_name": "a.jpg", "height": NaN, "width": 50}],'
                    ' "annotations": []}')
    with pytest.raises(ValueError, match=r"images\[0\] \(id 3\): height nan"):
        load_text_json(str(path), str(tmp_path))


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
