"""The trainer (dld_spotter.engine.trainer): training words the charset cannot read fail before
training."""
import re

import pytest
from testing import TEACHER_TINY, logged, messages, pretrain_cfg, tiny_opts

from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer


def test_training_on_unreadable_words_fails_before_training(synth_dataset, tmp_path):
    cfg = load_config(TEACHER_TINY, tiny_opts(synth_dataset, tmp_path, "MODEL.TEXT.CHARSET", "#%"))
    with pytest.raises(ValueError, match=rf"{synth_dataset[0]}.*none of its \d+ words.*"
                                         "MODEL.TEXT.CHARSET '#%'"):
        TextSpotterTrainer.build_train_loader(cfg)
    cfg.MODEL.TEXT.CHARSET = "abcdefghijklmnopqrstuvwxyz"  # lower case only: some words
    with logged("dld_spotter.data.build") as records:
        TextSpotterTrainer.build_train_loader(cfg)
    readable, total = map(int, re.search(r"(\d+) of (\d+) words readable",
                                         messages(records)).groups())
    assert 0 < readable < total
    stream = pretrain_cfg("MODEL.TEXT.CHARSET", "#%")
    with pytest.raises(ValueError, match="synth_stream.*none of its 256 words"):
        TextSpotterTrainer.build_train_loader(stream)
