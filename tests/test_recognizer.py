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
    ctc_greedy,
    ctc_loss,
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
        loss = model.rec.losses(model.stem(crops), targets)["loss_rec"]
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


def test_ctc_loss_by_hand():
    """Two frames, blank and 'a': "a" is read by (a, a), (a, -) and (-, a)."""
    p = torch.tensor([[[0.3, 0.7], [0.6, 0.4]]])  # (N=1, L=2, K=2): frame 1 likes 'a'
    expected = -torch.log(p[0, 0, 1] * p[0, 1, 1] + p[0, 0, 1] * p[0, 1, 0]
                          + p[0, 0, 0] * p[0, 1, 1])
    log_probs = p.log().requires_grad_()
    targets = torch.tensor([[1, EOS, IGNORE]])
    assert torch.allclose(ctc_loss(log_probs, targets), expected, atol=1e-5)
    # a don't-care row (all IGNORE) is not scored; per-character mean over the scored rows
    two = torch.cat([log_probs, log_probs.detach().flip(1)])
    assert torch.allclose(ctc_loss(two, torch.tensor([[1, EOS, IGNORE], [IGNORE] * 3])),
                          expected, atol=1e-5)
    none = ctc_loss(log_probs, torch.full((1, 3), IGNORE))
    assert none.item() == 0.0 and none.requires_grad


def test_ctc_greedy_merges_repeats_and_drops_blanks():
    frames = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 3], [0] * 8, [1, 2, 1, 2, 1, 2, 1, 2]])
    log_probs = torch.nn.functional.one_hot(frames, 4).float().mul(5).log_softmax(-1)
    decoded = ctc_greedy(log_probs, seq_length=5)
    assert decoded.ids.tolist() == [[1, 1, 2, 3, EOS], [EOS] * 5, [1, 2, 1, 2, EOS]]
    assert torch.allclose(decoded.log_probs, log_probs.max(-1).values.sum(1))
    assert (decoded.lengths == 8).all() and bool((decoded.scores <= 1).all())


def test_joint_ctc_gradients_and_reader():
    """loss_ctc trains the encoder and the CTC classifier, never the decoder; loss_rec never
    the CTC classifier; the CTC reader needs the classifier."""
    torch.manual_seed(4)
    charset = Charset("abcde", max_length=6)
    rec = make_recognizer(charset, channels=16, ctc_weight=0.5).train()
    feats = torch.randn(3, 16, 8, 32)
    targets, _ = charset.encode_batch(["abc", "e", "dd"])
    losses = rec.losses(feats, targets)
    assert tuple(losses) == rec.loss_names == ("loss_rec", "loss_ctc")
    for name, reaches, spared in (("loss_ctc", rec.ctc, rec.decoder),
                                  ("loss_rec", rec.decoder, rec.ctc)):
        rec.zero_grad()
        losses[name].backward(retain_graph=True)
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in reaches.parameters())
        assert all(p.grad is None or p.grad.abs().sum() == 0 for p in spared.parameters())
        assert rec.encoder.convs[0].weight.grad.abs().sum() > 0
    # loss_ctc is the weight times ctc_loss
    rec.eval()
    with torch.no_grad():
        enc = rec.encode(feats)
        expected = 0.5 * ctc_loss(rec.ctc_log_probs(enc), targets)
        assert torch.allclose(rec.losses(feats, targets)["loss_ctc"], expected)
        ctc = rec.decode(feats, reader="ctc")
        assert torch.equal(ctc.ids, ctc_greedy(rec.ctc_log_probs(enc), charset.seq_length).ids)
    with pytest.raises(ValueError, match="CTC_WEIGHT"):
        make_recognizer(charset, channels=16, reader="ctc")
    with pytest.raises(ValueError, match="CTC classifier"):
        make_recognizer(charset, channels=16).decode(feats, reader="ctc")
    assert "loss_ctc" not in make_recognizer(charset, channels=16).losses(feats, targets)


def test_scheduled_sampling_feeds_the_decoders_own_greedy_classes():
    torch.manual_seed(5)
    charset = Charset("abcde", max_length=6)
    rec = make_recognizer(charset, channels=16).eval()
    enc = rec.encode(torch.randn(4, 16, 8, 32))
    one, _ = charset.encode_batch(["abc", "de", "a", "eeee"])
    other, _ = charset.encode_batch(["ddd", "ab", "c", "bcda"])
    with torch.no_grad():
        sampled = [rec.decoder(enc, t, sampling_prob=1.0) for t in (one, other)]
        forced = [rec.decoder(enc, t) for t in (one, other)]
        greedy = rec.decoder.greedy(enc)
    # always its own classes: the targets no longer matter, and it reads as greedy decoding
    assert torch.allclose(sampled[0], sampled[1]) and not torch.allclose(forced[0], forced[1])
    steps = sampled[0].shape[1]
    ids = sampled[0].argmax(-1)
    for n in range(4):
        upto = min(int(greedy.lengths[n]), steps)
        assert torch.equal(ids[n, :upto], greedy.ids[n, :upto])
    # a training-only aid: evaluation-mode losses are teacher-forced
    aided = make_recognizer(charset, channels=16, sampling_prob=1.0)
    aided.load_state_dict(rec.state_dict())
    feats = torch.randn(2, 16, 8, 32)
    with torch.no_grad():
        assert torch.allclose(aided.eval().losses(feats, one[:2])["loss_rec"],
                              rec.losses(feats, one[:2])["loss_rec"])
    with pytest.raises(ValueError, match="SAMPLING_PROB"):
        make_recognizer(charset, channels=16, sampling_prob=1.5)
