"""The recognition branch of §3.2: masked RoI features -> six convs -> BiLSTM -> attention
decoder (teacher forcing in training; greedy or beam-search decoding at inference), with two
learning aids that are not in the paper, both off by default: a CTC classifier on the BiLSTM
output trained jointly with the decoder (Kim, Hori & Watanabe 2017; also a reader of its own),
and scheduled sampling of the decoder's inputs (Bengio et al. 2015).

Shapes: ``N`` RoIs, ``C`` channels, ``(Hr, Wr)`` the RoI size (8, 32), ``L = Wr`` encoder
steps, ``T`` decoding steps (max length + EOS), ``K`` classes (EOS + characters).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, get_norm
from detectron2.utils.registry import Registry
from torch import nn

from ..charset import EOS, IGNORE, build_charset

READERS = ("attention", "ctc")

REC_HEAD_REGISTRY = Registry("REC_HEAD")
REC_HEAD_REGISTRY.__doc__ = """
Registry for recognition heads: modules that read ``(N, C, Hr, Wr)`` masked RoI features.
The registered object is called with ``(cfg, in_channels)``.
"""


@dataclass
class Decoded:
    """Decoding result of ``N`` RoIs.

    Attributes:
        ids: ``(N, T)`` class indices, EOS-terminated (EOS-padded after the end).
        log_probs: ``(N,)`` sum of the log-probabilities of the decoded classes up to EOS
            (of a CTC reading: of every frame's best class).
        lengths: ``(N,)`` number of decoded steps, EOS included (of a CTC reading: the
            encoder's frames ``L``).
    """

    ids: torch.Tensor
    log_probs: torch.Tensor
    lengths: torch.Tensor

    @property
    def scores(self) -> torch.Tensor:
        """``(N,)`` per-step geometric-mean probability, in [0, 1]."""
        return torch.exp(self.log_probs / self.lengths.clamp(min=1))


class SequenceEncoder(nn.Module):
    """Convs that fold the RoI height into channels, then a BiLSTM over the width.

    ``(N, C, Hr, Wr)`` -> ``(N, Wr, 2 * hidden)``. Three of the convs halve the height
    (8 -> 1 for the paper's 8×32); the rest keep it. With ``instance_norm`` each RoI's input
    is first normalised per channel over its ``Hr × Wr`` cells (zero mean, unit variance), so
    that the convs see each word's contrast, not its ink and background colours.
    """

    def __init__(self, in_channels: int, conv_dim: int, num_conv: int, norm: str,
                 roi_height: int, hidden: int, num_layers: int, instance_norm: bool = False):
        super().__init__()
        self.instance_norm = instance_norm
        num_halving = max(roi_height.bit_length() - 1, 0)  # log2(Hr) for powers of two
        if 2**num_halving != roi_height:
            raise ValueError(f"RoI height must be a power of two, got {roi_height}")
        if num_conv < num_halving:
            raise ValueError(f"{num_conv} convs cannot reduce a height of {roi_height} to 1")
        halve_at = set(range(num_conv - num_halving, num_conv))  # the last convs halve H
        layers = []
        for i in range(num_conv):
            layers.append(
                Conv2d(
                    in_channels if i == 0 else conv_dim,
                    conv_dim,
                    kernel_size=3,
                    stride=(2, 1) if i in halve_at else 1,
                    padding=1,
                    bias=not norm,
                    norm=get_norm(norm, conv_dim),
                    activation=nn.ReLU(inplace=True),
                )
            )
        self.convs = nn.Sequential(*layers)
        self.lstm = nn.LSTM(conv_dim, hidden, num_layers=num_layers, bidirectional=True,
                            batch_first=True)
        self.out_channels = 2 * hidden
        for layer in self.convs:
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.instance_norm:
            x = F.instance_norm(x)
        x = self.convs(x)  # (N, D, 1, Wr)
        x = x.squeeze(2).transpose(1, 2)  # (N, Wr, D)
        return self.lstm(x)[0]


class AttentionDecoder(nn.Module):
    """Additive-attention GRU decoder over the encoder sequence ``(N, L, E)``.

    Keys carry a learned embedding of their position ``l`` and the query one of the decoding
    step ``t``: the attention can start from a reading-order prior instead of discovering
    alignment from nothing, which is what makes it train in minutes from scratch.
    """

    def __init__(self, enc_channels: int, num_classes: int, hidden: int, embed_dim: int,
                 attention_dim: int, seq_length: int, enc_length: int):
        super().__init__()
        self.num_classes = num_classes
        self.seq_length = seq_length
        self.hidden = hidden
        self.bos = num_classes  # an input-only "start" token
        self.embed = nn.Embedding(num_classes + 1, embed_dim)
        self.enc_proj = nn.Linear(enc_channels, attention_dim)
        self.position_embed = nn.Parameter(torch.zeros(enc_length, attention_dim))
        self.step_embed = nn.Embedding(seq_length, attention_dim)
        self.state_proj = nn.Linear(hidden, attention_dim, bias=False)
        self.score = nn.Linear(attention_dim, 1, bias=False)
        self.init_state = nn.Linear(enc_channels, hidden)
        self.cell = nn.GRUCell(embed_dim + enc_channels, hidden)
        self.classifier = nn.Linear(hidden + enc_channels, num_classes)

    def start(self, enc: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Initial hidden state ``(N, hidden)`` and projected keys ``(N, L, A)``."""
        keys = self.enc_proj(enc) + self.position_embed[: enc.shape[1]]
        return torch.tanh(self.init_state(enc.mean(dim=1))), keys

    def step(self, enc: torch.Tensor, keys: torch.Tensor, state: torch.Tensor,
             prev: torch.Tensor, t: int) -> Tuple[torch.Tensor, ...]:
        """Decoding step ``t``: ``prev`` ``(N,)`` previous classes -> logits ``(N, K)``, the
        new state, the attention weights ``(N, L)`` and the glimpse (context) ``(N, E)``."""
        query = self.state_proj(state) + self.step_embed.weight[t]
        energy = self.score(torch.tanh(keys + query[:, None])).squeeze(2)
        weights = energy.softmax(dim=1)
        context = torch.bmm(weights[:, None], enc).squeeze(1)  # (N, E)
        state = self.cell(torch.cat([self.embed(prev), context], dim=1), state)
        return self.classifier(torch.cat([state, context], dim=1)), state, weights, context

    def forward(self, enc: torch.Tensor, targets: torch.Tensor,
                sampling_prob: float = 0.0) -> torch.Tensor:
        """Teacher forcing: targets ``(N, T)`` -> logits ``(N, T, K)``."""
        return self.teacher_forced(enc, targets, sampling_prob)[0]

    def teacher_forced(self, enc: torch.Tensor, targets: torch.Tensor,
                       sampling_prob: float = 0.0
                       ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher forcing on targets ``(N, T)``: logits ``(N, T, K)``, attention weights
        ``(N, T, L)`` and glimpses ``(N, T, E)`` of every step. With ``sampling_prob`` > 0
        (scheduled sampling), each step's input is, with that probability per RoI, the
        decoder's own previous greedy class instead of the ground truth."""
        state, keys = self.start(enc)
        prev = torch.full_like(targets[:, 0], self.bos)
        steps = []
        for t in range(targets.shape[1]):
            step_logits, state, weights, context = self.step(enc, keys, state, prev, t)
            steps.append((step_logits, weights, context))
            prev = targets[:, t].clamp(min=EOS)  # IGNORE positions feed EOS (never scored)
            if sampling_prob > 0:
                own = torch.rand(prev.shape, device=prev.device) < sampling_prob
                prev = torch.where(own, step_logits.detach().argmax(dim=1), prev)
        logits, weights, glimpses = (torch.stack(x, dim=1) for x in zip(*steps))
        return logits, weights, glimpses

    @torch.no_grad()
    def greedy(self, enc: torch.Tensor) -> Decoded:
        n = enc.shape[0]
        state, keys = self.start(enc)
        prev = torch.full((n,), self.bos, dtype=torch.long, device=enc.device)
        ids = torch.full((n, self.seq_length), EOS, dtype=torch.long, device=enc.device)
        log_probs = enc.new_zeros(n)
        lengths = torch.zeros(n, dtype=torch.long, device=enc.device)
        done = torch.zeros(n, dtype=torch.bool, device=enc.device)
        for t in range(self.seq_length):
            step_logits, state, *_ = self.step(enc, keys, state, prev, t)
            best_lp, best = step_logits.log_softmax(dim=1).max(dim=1)
            ids[:, t] = torch.where(done, ids[:, t], best)
            log_probs += torch.where(done, torch.zeros_like(best_lp), best_lp)
            lengths += (~done).long()
            done = done | (best == EOS)
            prev = best
            if bool(done.all()):
                break
        return Decoded(ids, log_probs, lengths)

    @torch.no_grad()
    def beam_search(self, enc: torch.Tensor, beam_width: int) -> Tuple[Decoded, torch.Tensor]:
        """Batched beam search on summed log-probabilities (no length normalisation, so
        width 1 is exactly greedy decoding).

        Returns the best hypothesis per RoI and all hypotheses ``(N, B, T)``, best first.
        """
        n, steps, b, k = enc.shape[0], self.seq_length, beam_width, self.num_classes
        dev = enc.device
        state, keys = self.start(enc)
        enc, keys, state = (x.repeat_interleave(b, dim=0) for x in (enc, keys, state))
        scores = torch.full((n, b), float("-inf"), device=dev)
        scores[:, 0] = 0.0  # all beams start identical: keep one
        ids = torch.full((n, b, steps), EOS, dtype=torch.long, device=dev)
        lengths = torch.zeros(n, b, dtype=torch.long, device=dev)
        done = torch.zeros(n, b, dtype=torch.bool, device=dev)
        prev = torch.full((n * b,), self.bos, dtype=torch.long, device=dev)
        eos_only = torch.full((k,), float("-inf"), device=dev)
        eos_only[EOS] = 0.0
        rows = torch.arange(n, device=dev)[:, None]
        for t in range(steps):
            step_logits, state, *_ = self.step(enc, keys, state, prev, t)
            lp = step_logits.log_softmax(dim=1).view(n, b, k)
            lp = torch.where(done[..., None], eos_only, lp)  # a finished beam only extends by EOS
            top_scores, flat = (scores[..., None] + lp).view(n, b * k).topk(b, dim=1)
            origin, cls = flat // k, flat % k
            ids, lengths, done = ids[rows, origin], lengths[rows, origin], done[rows, origin]
            ids[:, :, t] = cls
            lengths += (~done).long()
            done = done | (cls == EOS)
            scores = top_scores
            state = state.view(n, b, -1)[rows, origin].view(n * b, -1)
            prev = cls.view(-1)
            if bool(done.all()):
                break
        best = Decoded(ids[:, 0], scores[:, 0], lengths[:, 0])
        return best, ids


@REC_HEAD_REGISTRY.register()
class AttentionRecognizer(nn.Module):
    """Reads ``(N, C, Hr, Wr)`` masked RoI features (``F_roi``) into character sequences.

    The BiLSTM output ``(N, Wr, 2 * hidden)`` is ``F_con`` of the paper's Eq. 8. With
    ``ctc_weight`` > 0 a linear CTC classifier on it (class 0, EOS, is the blank) trains
    with the decoder; ``reader="ctc"`` then reads with it (greedy) instead of the decoder.
    """

    @configurable
    def __init__(self, *, in_channels: int, roi_size: Tuple[int, int], num_classes: int,
                 seq_length: int, conv_dim: int = 256, num_conv: int = 6, norm: str = "BN",
                 lstm_hidden: int = 256, lstm_layers: int = 1, embed_dim: int = 128,
                 attention_dim: int = 256, beam_width: int = 1, instance_norm: bool = False,
                 ctc_weight: float = 0.0, reader: str = "attention",
                 sampling_prob: float = 0.0):
        super().__init__()
        if reader not in READERS:
            raise ValueError(f"MODEL.REC_HEAD.READER must be one of {READERS}, got {reader!r}")
        if reader == "ctc" and not ctc_weight > 0:
            raise ValueError("MODEL.REC_HEAD.READER 'ctc' reads with the CTC classifier, "
                             "which only trains with MODEL.REC_HEAD.CTC_WEIGHT > 0")
        if reader == "ctc" and beam_width != 1:
            raise ValueError("the CTC reader decodes greedily: set MODEL.REC_HEAD.BEAM_WIDTH 1")
        if not 0.0 <= sampling_prob <= 1.0:
            raise ValueError(f"MODEL.REC_HEAD.SAMPLING_PROB must be in [0, 1], got "
                             f"{sampling_prob}")
        self.encoder = SequenceEncoder(in_channels, conv_dim, num_conv, norm, roi_size[0],
                                       lstm_hidden, lstm_layers, instance_norm)
        self.decoder = AttentionDecoder(self.encoder.out_channels, num_classes, lstm_hidden,
                                        embed_dim, attention_dim, seq_length, roi_size[1])
        self.ctc = nn.Linear(self.encoder.out_channels, num_classes) if ctc_weight > 0 else None
        self.beam_width, self.ctc_weight, self.reader = beam_width, ctc_weight, reader
        self.sampling_prob = sampling_prob

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        rec = cfg.MODEL.REC_HEAD
        charset = build_charset(cfg)
        return {
            "in_channels": in_channels,
            "roi_size": tuple(rec.POOLER_RESOLUTION),
            "num_classes": charset.num_classes,
            "seq_length": charset.seq_length,
            "conv_dim": rec.CONV_DIM,
            "num_conv": rec.NUM_CONV,
            "norm": rec.NORM,
            "lstm_hidden": rec.LSTM_HIDDEN,
            "lstm_layers": rec.LSTM_LAYERS,
            "embed_dim": rec.EMBED_DIM,
            "attention_dim": rec.ATTENTION_DIM,
            "beam_width": rec.BEAM_WIDTH,
            "instance_norm": rec.INSTANCE_NORM,
            "ctc_weight": rec.CTC_WEIGHT,
            "reader": rec.READER,
            "sampling_prob": rec.SAMPLING_PROB,
        }

    def encode(self, roi_features: torch.Tensor) -> torch.Tensor:
        """``F_roi`` ``(N, C, Hr, Wr)`` -> ``F_con`` ``(N, Wr, 2 * hidden)``."""
        return self.encoder(roi_features)

    def logits(self, roi_features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(N, T, K)`` for targets ``(N, T)``."""
        return self.decoder(self.encode(roi_features), targets)

    def losses(self, roi_features: torch.Tensor, targets: torch.Tensor
               ) -> Dict[str, torch.Tensor]:
        """``loss_rec``: the decoder's mean per-character cross-entropy (IGNORE positions do
        not count; scheduled sampling in training); ``loss_ctc`` (with a CTC classifier):
        ``ctc_weight`` times the CTC loss of the same targets."""
        targets = trim_targets(targets)
        enc = self.encode(roi_features)
        sampling = self.sampling_prob if self.training else 0.0
        losses = {"loss_rec": recognition_loss(self.decoder(enc, targets, sampling), targets)}
        if self.ctc is not None:
            losses["loss_ctc"] = self.ctc_weight * ctc_loss(self.ctc_log_probs(enc), targets)
        return losses

    def teacher_forced(self, enc: torch.Tensor, targets: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The decoder teacher-forced on ``targets`` ``(N, T)`` from ``F_con`` ``enc``:
        logits ``(N, T, K)``, attention ``(N, T, L)`` and glimpses ``(N, T, E)``."""
        return self.decoder.teacher_forced(enc, targets)

    def sequence_logits(self, enc: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, T, K)`` of the decoder teacher-forced on ``sequences`` ``(N, T)``."""
        return self.decoder(enc, sequences)

    def beam_search(self, enc: torch.Tensor, beam_width: int) -> torch.Tensor:
        """All hypotheses ``(N, B, T)`` of a beam search of width ``beam_width``, best first."""
        return self.decoder.beam_search(enc, beam_width)[1]

    @property
    def loss_names(self) -> Tuple[str, ...]:
        """The keys of :meth:`losses`."""
        return ("loss_rec",) + (("loss_ctc",) if self.ctc is not None else ())

    def ctc_log_probs(self, enc: torch.Tensor) -> torch.Tensor:
        """``F_con`` ``(N, L, E)`` -> the CTC classifier's log-probabilities ``(N, L, K)``."""
        return self.ctc(enc).log_softmax(dim=-1)

    def decode(self, roi_features: torch.Tensor, beam_width: int | None = None,
               reader: str | None = None) -> Decoded:
        """Greedy (width 1) or beam-search decoding of ``(N, C, Hr, Wr)`` features by the
        attention decoder, or greedy CTC decoding (``reader`` "ctc"; default: the
        configured reader)."""
        width = beam_width or self.beam_width
        enc = self.encode(roi_features)
        if (reader or self.reader) == "ctc":
            if self.ctc is None:
                raise ValueError("this recognizer has no CTC classifier (CTC_WEIGHT 0)")
            return ctc_greedy(self.ctc_log_probs(enc), self.decoder.seq_length)
        if width == 1:
            return self.decoder.greedy(enc)
        return self.decoder.beam_search(enc, width)[0]


def trim_targets(targets: torch.Tensor) -> torch.Tensor:
    """Drop trailing steps that are IGNORE in every row: ``(N, T)`` -> ``(N, T')``, so that
    teacher forcing runs as many steps as the longest word needs, not ``max_length + 1``."""
    used = (targets != IGNORE).any(dim=0).nonzero()
    return targets[:, : int(used.max()) + 1] if used.numel() else targets[:, :1]


def recognition_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``(N, T, K)`` logits on ``(N, T)`` targets, IGNORE excluded; 0 if
    nothing is to be scored (keeps the graph connected for DDP)."""
    if not bool((targets != IGNORE).any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CTC loss of ``(N, L, K)`` log-probabilities (blank = class 0, EOS) on ``(N, T)``
    targets: each scored row's characters (EOS and IGNORE dropped), the loss per target
    character averaged over the rows; 0 if no row is scored."""
    scored = (targets != IGNORE).any(dim=1)
    if not bool(scored.any()):
        return log_probs.sum() * 0.0
    targets, log_probs = targets[scored], log_probs[scored]
    chars = targets > EOS
    input_lengths = torch.full((len(targets),), log_probs.shape[1], dtype=torch.long)
    return F.ctc_loss(log_probs.transpose(0, 1), targets[chars], input_lengths,
                      chars.sum(dim=1), blank=EOS, zero_infinity=True)


def ctc_greedy(log_probs: torch.Tensor, seq_length: int) -> Decoded:
    """Greedy CTC decoding of ``(N, L, K)`` log-probabilities: each frame's best class,
    repeats merged, blanks (EOS) dropped, EOS-padded to ``seq_length`` (at most
    ``seq_length - 1`` characters)."""
    best_lp, best = log_probs.max(dim=2)
    previous = F.pad(best[:, :-1], (1, 0), value=EOS)
    keep = (best != EOS) & (best != previous)
    position = keep.cumsum(dim=1) - 1
    keep &= position < seq_length - 1
    n, frames = best.shape
    ids = torch.full((n, seq_length), EOS, dtype=torch.long, device=best.device)
    rows, kept = keep.nonzero(as_tuple=True)
    ids[rows, position[rows, kept]] = best[rows, kept]
    lengths = torch.full((n,), frames, dtype=torch.long, device=best.device)
    return Decoded(ids, best_lp.sum(dim=1), lengths)


def build_recognizer(cfg, in_channels: int) -> nn.Module:
    """The recognizer named by ``cfg.MODEL.REC_HEAD.NAME``."""
    return REC_HEAD_REGISTRY.get(cfg.MODEL.REC_HEAD.NAME)(cfg, in_channels)
