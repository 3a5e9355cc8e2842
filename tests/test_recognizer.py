import os

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from testing import REPO
from torch import nn

from dld_spotter.charset import EOS, IGNORE, Charset
from dld_spotter.config import load_config
from dld_spotter.modeling.recognizer import (
    AttentionRecognizer,
    build_recognizer,
    recognition_loss,
)

WORDS = ["hello", "World", "text", "DLD", "spot", "2024", "low-res", "Paper"]
FONT = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf")


def render_word_crops(words, height=32, width=128):
    """(N, 3, height, width) float crops of black words on white."""
    font = ImageFont.truetype(FONT, 22)
    crops = []
    for word in words:
        img = Image.new("L", (width, height), 255)
        ImageDraw.Draw(img).text((4, 3), word, fill=0, font=font)
        crops.append(np.asarray(img, dtype=np.float32) / 255.0)
    return torch.from_numpy(np.stack(crops))[:, None].repeat(1, 3, 1, 1)


def make_recognizer(charset, channels=64, **kwargs):
    return AttentionRecognizer(
        in_channels=channels, roi_size=(8, 32), num_classes=charset.num_classes,
        seq_length=charset.seq_length, conv_dim=channels, lstm_hidden=64, embed_dim=32,
        attention_dim=64, **kwargs,
    )


class CropReader(nn.Module):
    """A stride-4 stem that turns 32x128 crops into 8x32 features, then the recognizer."""

    def __init__(self, charset):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        )
        self.rec = make_recognizer(charset)


def test_recognizer_overfits_word_crops():
    torch.manual_seed(0)
    charset = Charset(max_length=10)
    crops = render_word_crops(WORDS)
    targets, _ = charset.encode_batch(WORDS)
    model = CropReader(charset)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    accuracy = 0.0
    for step in range(400):
        model.train()
        loss = model.rec.loss(model.stem(crops), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 19:
            model.eval()
            with torch.no_grad():
                texts = charset.decode_batch(model.rec.decode(model.stem(crops)).ids)
            accuracy = np.mean([t == w for t, w in zip(texts, WORDS)])
            if accuracy >= 0.95:
                break
    assert accuracy >= 0.95, f"word accuracy {accuracy:.2f} after {step + 1} steps: {texts}"


@pytest.fixture
def random_recognizer():
    torch.manual_seed(1)
    charset = Charset("abcde", max_length=6)
    rec = make_recognizer(charset, channels=16).eval()
    return charset, rec, torch.randn(5, 16, 8, 32)


def test_beam_width_one_equals_greedy(random_recognizer):
    _, rec, feats = random_recognizer
    greedy = rec.decode(feats, beam_width=1)
    enc = rec.encode(feats)
    beam, _ = rec.decoder.beam_search(enc, 1)
    assert torch.equal(greedy.ids, beam.ids)
    assert torch.allclose(greedy.log_probs, beam.log_probs, atol=1e-5)
    assert torch.equal(greedy.lengths, beam.lengths)


def sequence_log_prob(rec, feats, ids, lengths):
    """log p(ids | feats) by teacher forcing, summed over the first `lengths` steps."""
    targets = ids.clone()
    steps = torch.arange(ids.shape[1])[None]
    targets[steps >= lengths[:, None]] = IGNORE
    lp = rec.logits(feats, targets).log_softmax(-1)
    picked = lp.gather(2, ids.clamp(min=0)[..., None]).squeeze(2)
    return (picked * (steps < lengths[:, None])).sum(1)


def test_beam_search_scores_are_sequence_log_probs(random_recognizer):
    _, rec, feats = random_recognizer
    best, all_ids = rec.decoder.beam_search(rec.encode(feats), 4)
    assert all_ids.shape == (5, 4, rec.decoder.seq_length)
    with torch.no_grad():
        recomputed = sequence_log_prob(rec, feats, best.ids, best.lengths)
    assert torch.allclose(recomputed, best.log_probs, atol=1e-4)
    ends = best.ids.gather(1, (best.lengths - 1).clamp(min=0)[:, None]).squeeze(1)
    finished = best.lengths < rec.decoder.seq_length
    assert (ends[finished] == EOS).all()


def test_wide_beam_finds_the_most_likely_sequence():
    """With 3 classes and 3 steps, a beam of 9 keeps every prefix: it must return the
    exhaustive optimum over all sequences (EOS-terminated or of full length)."""
    torch.manual_seed(2)
    charset = Charset("ab", max_length=2)
    rec = make_recognizer(charset, channels=16).eval()
    feats = torch.randn(3, 16, 8, 32)
    candidates = [[EOS]] + [[a, EOS] for a in (1, 2)]
    candidates += [[a, b, c] for a in (1, 2) for b in (1, 2) for c in range(3)]
    ids = torch.tensor([c + [EOS] * (3 - len(c)) for c in candidates])
    lengths = torch.tensor([len(c) for c in candidates])
    with torch.no_grad():
        best, _ = rec.decoder.beam_search(rec.encode(feats), 9)
        for n in range(3):
            scores = sequence_log_prob(rec, feats[n : n + 1].expand(len(ids), -1, -1, -1),
                                       ids, lengths)
            assert torch.allclose(best.log_probs[n], scores.max(), atol=1e-4)
            assert torch.equal(best.ids[n], ids[scores.argmax()])


def test_instance_norm_makes_the_reading_independent_of_each_rois_colours():
    """With INSTANCE_NORM, scaling and shifting one RoI's channels (another ink or background
    colour) leaves its encoding unchanged; without, it does not."""
    torch.manual_seed(3)
    charset = Charset("abcde", max_length=6)
    feats = torch.randn(4, 16, 8, 32)
    recoloured = feats * torch.rand(4, 16, 1, 1).add(0.5) + torch.randn(4, 16, 1, 1) * 3
    for instance_norm in (True, False):
        rec = make_recognizer(charset, channels=16, instance_norm=instance_norm).eval()
        with torch.no_grad():
            same = torch.allclose(rec.encode(feats), rec.encode(recoloured), atol=1e-4)
        assert same == instance_norm
    # the option is a config key, off by default (the paper's recognizer)
    config = os.path.join(REPO, "configs", "Base-TextSpotter.yaml")
    for opts, expected in (([], False), (["MODEL.REC_HEAD.INSTANCE_NORM", "True"], True)):
        assert build_recognizer(load_config(config, opts), 16).encoder.instance_norm is expected


def test_recognition_loss_ignores_padding_and_dont_care():
    logits = torch.randn(2, 4, 6, requires_grad=True)
    targets = torch.tensor([[1, 2, EOS, IGNORE], [IGNORE] * 4])
    loss = recognition_loss(logits, targets)
    expected = torch.nn.functional.cross_entropy(logits[0, :3], targets[0, :3])
    assert torch.allclose(loss, expected)
    loss.backward()
    assert logits.grad[1].abs().sum() == 0 and logits.grad[0, 3].abs().sum() == 0
    all_ignored = recognition_loss(logits, torch.full((2, 4), IGNORE))
    assert all_ignored.item() == 0.0 and all_ignored.requires_grad
