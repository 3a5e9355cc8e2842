"""Sources closer to real photographs: word-crop folders, photograph backgrounds, more fonts,
degradations, held-out parts of training sets."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from testing import REPO

from dld_spotter.charset import Charset
from dld_spotter.config import load_config
from dld_spotter.data.build import real_heldout_counts, real_word_crops
from dld_spotter.data.real_crops import FolderCropStream, MixedCropStream, load_word_crops
from dld_spotter.data.synth import (
    SynthConfig,
    background_files,
    find_fonts,
    generate_image,
    photo_background,
)


def _crop_folder(tmp_path, lines, coords=None, size=(20, 60), name="words"):
    folder = tmp_path / name
    folder.mkdir()
    for i in range(len(lines)):
        img = np.full((*size, 3), 200, np.uint8)
        img[6:14, 12:38] = 0  # "ink" inside the quad of coords.txt below
        cv2.imwrite(str(folder / f"word_{i + 1}.png"), img)
    (folder / "gt.txt").write_text("\ufeff" + "\n".join(lines) + "\n", encoding="utf-8")
    if coords is not None:
        (folder / "coords.txt").write_text("\n".join(coords) + "\n")
    return str(folder)


def test_word_crop_folder_is_read_with_quotes_commas_and_quads(tmp_path):
    folder = _crop_folder(tmp_path, ['word_1.png, "Genaxis Theatre"', 'word_2.png, "a,b"',
                                     'word_3.png, "\\"x\\""'],
                          coords=["word_1.png,1,2,50,2,50,18,1,18"])
    crops = load_word_crops(folder)
    assert [c.text for c in crops] == ["Genaxis Theatre", "a,b", '"x"']
    assert crops[0].quad == (1, 2, 50, 2, 50, 18, 1, 18)
    assert crops[1].quad is None


def test_bad_word_crop_folders_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="gt.txt"):
        load_word_crops(str(tmp_path))
    folder = _crop_folder(tmp_path, ['word_1.png, "ok"', 'word_9.png, "gone"'])
    with pytest.raises(FileNotFoundError, match="1 image.*word_9.png"):
        load_word_crops(folder)
    (tmp_path / "words" / "gt.txt").write_text('word_1.png, "ok"\n')
    (tmp_path / "words" / "coords.txt").write_text("word_1.png,1,2,x\n")
    with pytest.raises(ValueError, match=r"coords.txt:1"):
        load_word_crops(folder)


def test_each_word_crop_folder_holds_out_its_own_last_crops(tmp_path):
    a = _crop_folder(tmp_path, [f'word_{i}.png, "a{i}"' for i in range(1, 5)], name="a")
    b = _crop_folder(tmp_path, [f'word_{i}.png, "b{i}"' for i in range(1, 4)], name="b")

    def texts(held, split):
        cfg = load_config("", ["INPUT.WORD_CROPS.REAL_FOLDERS", f"('{a}', '{b}')",
                               "INPUT.WORD_CROPS.REAL_HELDOUT", held])
        return [c.text for c in real_word_crops(cfg, split)]

    assert texts("(2, 0)", "train") == ["a1", "a2", "b1", "b2", "b3"]
    assert texts("(2, 0)", "heldout") == ["a3", "a4"]
    assert texts("(1,)", "heldout") == ["a4", "b3"]  # one count for every folder
    assert texts("()", "train") == ["a1", "a2", "a3", "a4", "b1", "b2", "b3"]
    assert texts("()", "heldout") == []
    with pytest.raises(ValueError, match="REAL_HELDOUT.*one count"):
        texts("(1, 1, 1)", "train")
    with pytest.raises(ValueError, match="holds out all of the 3 crops"):
        texts("(0, 3)", "train")
    cfg = load_config("", ["INPUT.WORD_CROPS.REAL_HELDOUT", "(508,)"])
    assert real_heldout_counts(cfg) == ()  # no folders: nothing to hold out


def test_folder_crops_put_the_word_box_where_the_word_is(tmp_path):
    folder = _crop_folder(tmp_path, ['word_1.png, "ab"', 'word_2.png, "é?"'],
                          coords=["word_1.png,10,4,40,4,40,16,10,16"])
    charset = Charset("abcdefghijklmnopqrstuvwxyz0123456789", case_sensitive=False)
    stream = FolderCropStream(load_word_crops(folder), 0, "train", charset, (48, 192))
    assert len(stream.crops) == 1 and stream.num_skipped == 1  # "é?" cannot be read
    crop = stream.sample(0, np.random.default_rng(0))
    x0, y0, x1, y1 = crop["instances"].gt_boxes.tensor[0].tolist()
    # the quad is 30 x 12 px: scaled by s to 30-70 % of the canvas height, aspect kept
    assert (x1 - x0) / (y1 - y0) == pytest.approx(30 / 12, rel=1e-3)
    assert 0.3 * 48 - 1e-3 <= y1 - y0 <= 0.7 * 48 + 1e-3
    # the dark ink of the source lies inside the box (replicated border is light)
    grey = crop["image"].float().mean(0)
    ys, xs = torch.nonzero(grey < 100, as_tuple=True)
    assert len(xs) > 0
    assert xs.min() >= x0 - 2 and xs.max() <= x1 + 2 and ys.min() >= y0 - 2 and ys.max() <= y1 + 2
    assert charset.decode(crop["instances"].gt_texts[0].tolist()) == "ab"
    again = stream.sample(0, np.random.default_rng(0))
    assert torch.equal(crop["image"], again["image"])


class _Constant(torch.utils.data.IterableDataset):
    def __init__(self, value):
        self.value, self.start_iter = value, 0

    def __iter__(self):
        while True:
            yield self.value


def test_mixed_crop_stream_draws_in_its_ratios_and_passes_start_iter_on():
    mixed = MixedCropStream([_Constant("s"), _Constant("r")], [0.75, 0.25], seed=0)
    mixed.start_iter = 7
    assert [s.start_iter for s in mixed.streams] == [7, 7]
    draws = [x for _, x in zip(range(2000), mixed)]
    assert draws.count("r") / len(draws) == pytest.approx(0.25, abs=0.03)
    with pytest.raises(ValueError, match="ratio"):
        MixedCropStream([_Constant("s")], [0.5, 0.5], seed=0)


def test_photo_backgrounds_fill_the_scene_and_bad_folders_are_named(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = np.zeros((300, 400, 3), np.uint8)
    photo[:] = (30, 200, 10)  # BGR on disk
    cv2.imwrite(str(photos / "a.png"), photo)
    files = background_files((str(photos),))
    region = photo_background(np.random.default_rng(0), 120, 160, files)
    assert region.shape == (120, 160, 3)
    assert np.allclose(region.reshape(-1, 3).mean(0), (10, 200, 30), atol=1)  # RGB
    cfg = SynthConfig(height=192, width=256, background_dirs=(str(photos),),
                      photo_background_prob=1.0, size_jitter=0.0, min_words=1, max_words=1)
    image, _ = generate_image(np.random.default_rng(1), find_fonts(), cfg)
    corner = image[:8, :8].reshape(-1, 3).mean(0)
    assert np.abs(corner - (10, 200, 30)).max() < 40  # noise, blur; not a drawn background
    (photos / "broken.jpg").write_bytes(b"not an image")
    background_files.cache_clear()
    with pytest.raises(ValueError, match="broken.jpg"):
        background_files((str(photos),))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        background_files((str(tmp_path / "none"),))


def test_degradations_off_draw_nothing_and_on_change_the_image():
    fonts = find_fonts()
    base = SynthConfig(height=192, width=256)
    off = SynthConfig(height=192, width=256, low_contrast_prob=0.0, lighting_prob=0.0)
    a, _ = generate_image(np.random.default_rng(3), fonts, base)
    b, _ = generate_image(np.random.default_rng(3), fonts, off)
    assert np.array_equal(a, b)
    on = SynthConfig(height=192, width=256, lighting_prob=1.0, jpeg_prob=1.0)
    c, _ = generate_image(np.random.default_rng(3), fonts, on)
    assert c.shape == a.shape and not np.array_equal(a, c)


def test_extra_font_folders_keep_only_fonts_with_every_latin_letter(tmp_path):
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    (fonts / "junk.ttf").write_bytes(b"not a font")
    with pytest.raises(FileNotFoundError, match="no usable"):
        find_fonts([str(fonts)])
    good = find_fonts()[0]
    (fonts / "Copy-Regular.ttf").write_bytes(open(good, "rb").read())
    found = find_fonts([str(fonts)])
    assert found[-1] == str(fonts / "Copy-Regular.ttf") and str(fonts / "junk.ttf") not in found
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_fonts([str(tmp_path / "missing")])


@pytest.mark.parametrize("args, message", [
    (["--num-train", "-3"], "--num-train must be >= 0"),
    (["--height", "8", "--width", "8"], "--height must be at least 56 px"),
    (["--backgrounds", "/nonexistent/photos"], "background folder /nonexistent/photos"),
])
def test_generator_cli_refuses_bad_arguments(tmp_path, args, message):
    run = subprocess.run([sys.executable, "-m", "dld_spotter.data.synth", "--out",
                          str(tmp_path / "out"), "--num-val", "1", *args],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert run.returncode == 2 and message in run.stderr
    assert not os.path.exists(tmp_path / "out" / "train.json")


def test_a_font_that_draws_no_ink_loses_its_word_not_the_scene(monkeypatch):
    from dld_spotter.data import synth

    def blank(text, font_path, ink_height):  # some fonts draw nothing at a few pixels
        return synth.ink_box(np.zeros((8, 8), np.uint8))

    with pytest.raises(synth.NoInkError):
        blank("a", "", 5)
    monkeypatch.setattr(synth, "render_text", blank)
    cfg = SynthConfig(height=192, width=256, dont_care_prob=0.0)
    image, instances = generate_image(np.random.default_rng(0), find_fonts(), cfg)
    assert image.shape[2] == 3 and instances == []
