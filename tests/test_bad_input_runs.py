"""Bad input to the programs never takes the machine down: the demo on folders and
globs (GIFs, folders named like images, 16-bit PNGs), configs with lists of the wrong type,
and checkpoints whose saving fails (disk full) or is interrupted (Ctrl-C, SIGTERM)."""
import contextlib
import errno
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest
import torch
from detectron2.data import DatasetCatalog
from PIL import Image
from testing import REPO, TEACHER_TINY, TINY_OPTS, logged, messages, tiny_opts, with_synth_root

import dld_spotter.checkpoint as checkpoint
from dld_spotter.checkpoint import CheckpointNotSaved, TextCheckpointer
from dld_spotter.config import load_config
from dld_spotter.engine.signals import Terminated
from dld_spotter.files import atomic_write

# --- The demo ---------------------------------------------------------------------------------


def _load_demo():
    spec = importlib.util.spec_from_file_location("demo", os.path.join(REPO,
                                                                       "projects/DLD/demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


demo = _load_demo()


def run_demo(weights, inputs, output):
    return demo.main(["--config-file", TEACHER_TINY, "--input", *map(str, inputs), "--output",
                      str(output), "--opts", *TINY_OPTS, "MODEL.WEIGHTS",
                      weights.MODEL.WEIGHTS, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.0"])


def spotted(records, name):
    return [(round(r["score"], 4), r["text"]) for r in records if r["file_name"].endswith(name)]


def test_demo_on_a_folder_reads_gifs_and_lists_what_it_passes_over(
        tiny_weights, synth_dataset, tmp_path, capsys):
    good = DatasetCatalog.get(synth_dataset[1])[0]["file_name"]
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(good, folder / "a.jpg")
    Image.open(good).convert("RGB").save(folder / "b.gif")  # MLT17 ships GIFs
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub.jpg").mkdir()
    with logged("dld_spotter.demo") as records:
        result = run_demo(tiny_weights, [folder], tmp_path / "out")
    assert {os.path.basename(r["file_name"]) for r in result} == {"a.jpg", "b.gif"}
    log = messages(records)
    assert "passed over 2 path(s)" in log and "notes.txt: not an image" in log
    assert "sub.jpg: is a directory" in log
    assert "in 2 image(s)" in capsys.readouterr().out


def test_demo_glob_passes_over_a_folder_named_like_an_image(tiny_weights, synth_dataset,
                                                           tmp_path):
    good = DatasetCatalog.get(synth_dataset[1])[0]["file_name"]
    shutil.copy(good, tmp_path / "a.jpg")
    (tmp_path / "folder.jpg").mkdir()  # was: "truncated or corrupt ... re-download"
    with logged("dld_spotter.demo") as records:
        result = run_demo(tiny_weights, [str(tmp_path / "*.jpg")], tmp_path / "out")
    assert result and {os.path.basename(r["file_name"]) for r in result} == {"a.jpg"}
    assert "folder.jpg: is a directory" in messages(records)
    (tmp_path / "a.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="no images.*folder.jpg: is a directory"):
        run_demo(tiny_weights, [str(tmp_path / "*.jpg")], tmp_path / "out")


def test_demo_reads_a_16_bit_png_as_its_8_bit_copy(tiny_weights, synth_dataset, tmp_path):
    grey = cv2.imread(DatasetCatalog.get(synth_dataset[1])[0]["file_name"], cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "flat.png"), grey)
    cv2.imwrite(str(tmp_path / "deep.png"), grey.astype(np.uint16) * 257)
    records = run_demo(tiny_weights, [tmp_path / "flat.png", tmp_path / "deep.png"],
                       tmp_path / "out")
    assert spotted(records, "flat.png") and spotted(records, "deep.png") == spotted(records,
                                                                                    "flat.png")


# --- Config lists of the wrong type -----------------------------------------------------------


def test_a_list_of_numbers_holding_a_string_names_the_key_and_the_file(tmp_path):
    config = tmp_path / "student.yaml"
    config.write_text(f'_BASE_: "{REPO}/configs/dld/Base-DLD.yaml"\n'
                      'MODEL:\n  DLD:\n    SCALES: [0.8, "0.5"]\n')
    with pytest.raises(ValueError, match=rf"{config}: MODEL.DLD.SCALES .*'0.5' is a str"):
        load_config(str(config))
    with pytest.raises(ValueError, match=r"command-line opts.*DATASETS.TRAIN_RATIOS"):
        load_config(TEACHER_TINY, ["DATASETS.TRAIN_RATIOS", "('1', 2)"])
    config.write_text("MODEL:\n  DLD:\n    FIXED_SCALE: abc\n")
    with pytest.raises(ValueError, match=rf"{config}: .*MODEL.DLD.FIXED_SCALE"):
        load_config(str(config))
    assert load_config(TEACHER_TINY, ["MODEL.DLD.SCALES", "(0.8, 0.5)"]).MODEL.DLD.SCALES == (
        0.8, 0.5)


# --- Checkpoints whose saving fails or is interrupted -----------------------------------------


class _FailingWriter(io.RawIOBase):
    """Writes through to ``f`` until ``limit`` bytes, then raises ``error``."""

    def __init__(self, f, error, limit=4096):
        self.f, self.error, self.limit, self.written = f, error, limit, 0

    def writable(self):
        return True

    def write(self, data):
        self.written += len(data)
        if self.written > self.limit:
            raise self.error
        return self.f.write(data)


def failing_writes(error):
    """A stand-in of ``atomic_write`` whose checkpoint (.pth) writes fail with ``error``."""
    @contextlib.contextmanager
    def writer(path, mode="w", **kwargs):
        with atomic_write(path, mode, **kwargs) as f:
            yield _FailingWriter(f, error) if path.endswith(".pth") else f
    return writer


@pytest.fixture
def saved_once(tmp_path):
    """A checkpointer of a small model that saved model_0000001.pth."""
    checkpointer = TextCheckpointer(torch.nn.Linear(64, 64), str(tmp_path))
    checkpointer.save("model_0000001")
    return checkpointer


def assert_nothing_half_written(folder):
    assert sorted(os.listdir(folder)) == ["last_checkpoint", "model_0000001.pth"]
    assert (folder / "last_checkpoint").read_text() == "model_0000001.pth"
    torch.load(folder / "model_0000001.pth")


def test_disk_full_during_a_save_is_one_line_naming_the_file(saved_once, tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoint, "atomic_write",
                        failing_writes(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))))
    with pytest.raises(CheckpointNotSaved) as e:
        saved_once.save("model_0000002")
    message = str(e.value)
    assert message.startswith(f"{tmp_path / 'model_0000002.pth'}: no space left on device")
    assert f"{tmp_path / 'model_0000001.pth'} is still the last checkpoint" in message
    assert "\n" not in message and "unexpected pos" not in message
    assert e.value.errno == errno.ENOSPC and e.value.__suppress_context__
    assert_nothing_half_written(tmp_path)


@pytest.mark.parametrize("interruption", [KeyboardInterrupt(), Terminated()])
def test_an_interrupted_save_says_so_and_stops_as_interrupted(saved_once, tmp_path, monkeypatch,
                                                              interruption):
    monkeypatch.setattr(checkpoint, "atomic_write", failing_writes(interruption))
    with logged("dld_spotter.checkpoint") as records, pytest.raises(type(interruption)) as e:
        saved_once.save("model_0000002")
    assert e.value is interruption  # not torch's RuntimeError "unexpected pos" around it
    assert f"{tmp_path / 'model_0000002.pth'}: interrupted while saving; nothing was written" in (
        messages(records))
    assert_nothing_half_written(tmp_path)


# projects/DLD/train_net.py whose checkpoint writes fail: ENOSPC on every one, or Ctrl-C on the
# first only (the save on interruption, model_interrupted.pth, then goes through).
TRAIN_NET_WITH = textwrap.dedent("""
    import contextlib, errno, io, os, runpy, sys
    import dld_spotter.checkpoint as checkpoint
    from dld_spotter.files import atomic_write

    failure, failed = sys.argv.pop(1), []

    class Failing(io.RawIOBase):
        def __init__(self, f): self.f, self.n = f, 0
        def writable(self): return True
        def write(self, data):
            self.n += len(data)
            if self.n > 4096 and (failure == "ENOSPC" or not failed):
                failed.append(1)
                raise (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) if failure == "ENOSPC"
                       else KeyboardInterrupt())
            return self.f.write(data)

    @contextlib.contextmanager
    def writer(path, mode="w", **kwargs):
        with atomic_write(path, mode, **kwargs) as f:
            yield Failing(f) if path.endswith(".pth") else f

    checkpoint.atomic_write = writer
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


@pytest.mark.parametrize("failure, status, line", [
    ("ENOSPC", 1, "model_0000001.pth: no space left on device; nothing was written"),
    ("Ctrl-C", 130, "model_0000001.pth: interrupted while saving; nothing was written"),
])
def test_train_net_stops_in_one_line_when_a_checkpoint_cannot_be_saved(
        synth_dataset, tmp_path, failure, status, line):
    opts = with_synth_root(tiny_opts(synth_dataset, tmp_path, "SOLVER.MAX_ITER", "6",
                                     "SOLVER.CHECKPOINT_PERIOD", "2"), synth_dataset[2])
    opts[opts.index("DATASETS.TEST") + 1] = "()"
    result = subprocess.run(
        [sys.executable, "-c", TRAIN_NET_WITH, failure,
         os.path.join(REPO, "projects/DLD/train_net.py"), "--config-file", TEACHER_TINY, *opts],
        capture_output=True, text=True, timeout=300, cwd=REPO,
        env=dict(os.environ, PYTHONWARNINGS="ignore"))
    out = result.stdout + result.stderr
    assert result.returncode == status, out[-3000:]
    assert line in out and "Traceback" not in out and "unexpected pos" not in out, out[-3000:]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    assert not (tmp_path / "model_0000001.pth").exists()
    if failure == "ENOSPC":
        assert "model_interrupted.pth could not be saved either" in out
    else:  # the stop on Ctrl-C saves the model as usual
        saved = torch.load(tmp_path / "model_interrupted.pth", weights_only=False)
        assert saved["trainer"]["iteration"] >= 1
        assert (tmp_path / "last_checkpoint").read_text() == "model_interrupted.pth"

