"""The Dynamic Resolution Selector of §3.3: a light residual CNN that reads a thumbnail of
the image and chooses one of ``k`` candidate scales, trained through Gumbel-softmax samples."""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from detectron2.layers import Conv2d, get_norm
from torch import nn


class _ResidualBlock(nn.Module):
    """Two 3×3 convs (the first with ``stride``) plus a parameter-free shortcut: average
    pooling where the block downsamples, zero channels where it widens."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: str):
        super().__init__()
        self.stride = stride
        self.extra_channels = out_channels - in_channels
        if self.extra_channels < 0:
            raise ValueError("DRS stages cannot narrow: STAGE_CHANNELS must not decrease")
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1,
                            bias=not norm, norm=get_norm(norm, out_channels))
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1, bias=not norm,
                            norm=get_norm(norm, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = F.avg_pool2d(x, self.stride, ceil_mode=True) if self.stride > 1 else x
        shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return F.relu(shortcut + self.conv2(F.relu(self.conv1(x))))


class DynamicResolutionSelector(nn.Module):
    """Thumbnail ``(N, 3, t, t)`` -> log-probabilities ``(N, k)`` over the candidate scales.

    Ten convolutions: two 3×3 stride-2 stem convs, then four residual blocks of two 3×3
    convs (stride 2 in the first conv of the last three), then global average pooling and a
    fully connected layer.
    """

    def __init__(self, num_scales: int, thumbnail_size: int, stem_channels: int = 16,
                 stage_channels: Sequence[int] = (16, 32, 64, 128), norm: str = ""):
        super().__init__()
        if len(stage_channels) != 4:
            raise ValueError("the DRS has four residual stages: give 4 STAGE_CHANNELS")
        self.thumbnail_size = thumbnail_size
        self.stem = nn.Sequential(
            Conv2d(3, stem_channels, 3, stride=2, padding=1, bias=not norm,
                   norm=get_norm(norm, stem_channels), activation=nn.ReLU(inplace=True)),
            Conv2d(stem_channels, stage_channels[0], 3, stride=2, padding=1, bias=not norm,
                   norm=get_norm(norm, stage_channels[0]), activation=nn.ReLU(inplace=True)),
        )
        ins = [stage_channels[0], *stage_channels[:-1]]
        self.stages = nn.Sequential(*[
            _ResidualBlock(i, o, stride=1 if n == 0 else 2, norm=norm)
            for n, (i, o) in enumerate(zip(ins, stage_channels))
        ])
        self.fc = nn.Linear(stage_channels[-1], num_scales)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def thumbnails(self, images: torch.Tensor, image_sizes: List[tuple]) -> torch.Tensor:
        """:func:`thumbnails` of this selector's size: ``(N, 3, t, t)``."""
        return thumbnails(images, image_sizes, self.thumbnail_size)

    def forward(self, thumbnails: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(thumbnails))
        return self.fc(x.mean(dim=(2, 3))).log_softmax(dim=1)


def thumbnails(images: torch.Tensor, image_sizes: List[tuple], size: int) -> torch.Tensor:
    """Area-resize each (unpadded) normalised image of the padded batch ``images`` to
    ``(3, size, size)``: ``(N, 3, size, size)``."""
    return torch.cat([
        F.interpolate(img[None, :, :h, :w], size=(size, size), mode="area")
        for img, (h, w) in zip(images, image_sizes)
    ])


def gumbel_softmax_sample(log_probs: torch.Tensor, tau: float, hard: bool = True) -> torch.Tensor:
    """Eq. 5–6: ``h`` ``(N, k)`` from log-probabilities ``(N, k)``.

    ``hard``: exactly one-hot in the forward pass (argmax of ``log p + g``), with the
    gradient of the relaxed softmax ``softmax((log p + g) / tau)`` (straight-through).
    """
    uniform = torch.rand_like(log_probs).clamp_(min=1e-10, max=1.0 - 1e-7)
    noisy = log_probs - torch.log(-torch.log(uniform))
    soft = (noisy / tau).softmax(dim=1)
    if not hard:
        return soft
    one_hot = F.one_hot(noisy.argmax(dim=1), log_probs.shape[1]).to(soft.dtype)
    return one_hot - soft.detach() + soft


def smallest_legible_scale(height: float, scales: Sequence[float], min_height: float) -> float:
    """The smallest of ``scales`` at which text ``height`` px high keeps ``min_height`` px;
    the largest scale if none does (an image without words, ``height`` inf: the smallest)."""
    fits = [s for s in scales if height * s >= min_height]
    return min(fits) if fits else max(scales)


def temperature(epoch: int, tau_init: float, decay: float) -> float:
    """The schedule of §3.3: ``tau = tau_init * decay ** epoch``."""
    return tau_init * decay**epoch
