"""The recognizer learning-curve tool: its crops, its accuracy and one training step."""

import numpy as np
import pytest
import torch
from testing import load_tool

from dld_spotter.charset import Charset
from dld_spotter.data.synth import find_fonts

curve = load_tool("recognizer_learning_curve")


def test_crops_are_visible_words_of_the_requested_size():
    crops, words = curve.word_crops(np.random.default_rng(0), find_fonts(), 6, (16, 64), 0.5)
    assert crops.shape == (6, 3, 16, 64) and len(words) == 6
    assert crops.min() >= -1 and crops.max() <= 1
    # each crop holds ink and background: two clearly different colours
    spread = crops.flatten(1).max(dim=1).values - crops.flatten(1).min(dim=1).values
    assert bool((spread > 0.4).all())
    # deterministic from the generator
    again, words2 = curve.word_crops(np.random.default_rng(0), find_fonts(), 6, (16, 64), 0.5)
    assert words2 == words and torch.equal(again, crops)


def test_inks_white_and_grey():
    fonts = find_fonts()
    white, _ = curve.word_crops(np.random.default_rng(0), fonts, 8, (16, 64), 0.5, ink="white")
    assert torch.allclose(white[:, 0], white[:, 1]) and torch.allclose(white[:, 1], white[:, 2])
    # white ink on black: black is the most common value, ink the rarer bright one
    assert float(white.min()) == -1.0 and bool((white.flatten(1).median(dim=1).values < 0).all())
    grey, _ = curve.word_crops(np.random.default_rng(0), fonts, 8, (16, 64), 0.5, ink="grey")
    background = grey.flatten(1).median(dim=1).values
    assert bool((background < 0).any()) and bool((background > 0).any())  # both polarities
    with pytest.raises(ValueError, match="ink"):
        curve.word_crops(np.random.default_rng(0), fonts, 1, (16, 64), 0.5, ink="blue")


def test_word_accuracy_follows_the_charset_case():
    words, predictions = ["Stop", "b2", "x"], ["stop", "b2", "y"]
    assert curve.word_accuracy(predictions, words, Charset(case_sensitive=False)) == 2 / 3
    assert curve.word_accuracy(predictions, words, Charset(case_sensitive=True)) == 1 / 3


def test_the_tool_trains_and_prints_its_table(capsys):
    curve.main(["--steps", "2", "--batch", "4", "--val", "4", "--every", "1",
                "MODEL.REC_HEAD.CONV_DIM", "16", "MODEL.REC_HEAD.LSTM_HIDDEN", "16"])
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith("|") and line.split("|")[1].strip().isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == [1, 2]
