"""The Dynamic Resolution Selector: architecture, Gumbel-softmax sampling, temperature."""
import math
from types import SimpleNamespace

import torch
from torch import nn

from dld_spotter.engine.hooks import TemperatureHook
from dld_spotter.modeling.drs import (
    DynamicResolutionSelector,
    gumbel_softmax_sample,
    smallest_legible_scale,
    temperature,
)


def test_selector_is_ten_convs_gap_fc_and_gives_probabilities():
    drs = DynamicResolutionSelector(6, thumbnail_size=64, stem_channels=8,
                                    stage_channels=(8, 16, 32, 64))
    assert sum(isinstance(m, nn.Conv2d) for m in drs.modules()) == 10
    assert sum(isinstance(m, nn.Linear) for m in drs.modules()) == 1
    images = torch.randn(2, 3, 120, 200)
    thumbs = drs.thumbnails(images, [(100, 150), (120, 200)])
    assert thumbs.shape == (2, 3, 64, 64)
    # The padding of the first image is not part of its thumbnail.
    assert torch.allclose(thumbs[0], drs.thumbnails(images[:1, :, :100, :150], [(100, 150)])[0])
    log_p = drs(thumbs)
    assert log_p.shape == (2, 6)
    assert torch.allclose(log_p.exp().sum(dim=1), torch.ones(2))


def test_gumbel_sample_is_one_hot_forward_with_soft_gradient():
    torch.manual_seed(0)
    logits = torch.randn(5, 6, requires_grad=True)
    h = gumbel_softmax_sample(logits.log_softmax(dim=1), tau=5.0)
    assert set(h.detach().unique().tolist()) == {0.0, 1.0}
    assert torch.equal(h.detach().sum(dim=1), torch.ones(5))
    (h * torch.arange(6.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    soft = gumbel_softmax_sample(logits.log_softmax(dim=1), tau=5.0, hard=False)
    assert ((soft > 0) & (soft < 1)).all()


def test_gumbel_samples_follow_the_probabilities():
    torch.manual_seed(0)
    p = torch.tensor([0.6, 0.3, 0.1])
    h = gumbel_softmax_sample(p.log().expand(20000, 3), tau=0.5)
    freq = h.mean(dim=0)
    assert torch.allclose(freq, p, atol=0.02), freq


def test_temperature_schedule_and_hook():
    assert temperature(0, 5.0, 0.965) == 5.0
    assert math.isclose(temperature(10, 5.0, 0.965), 5.0 * 0.965**10)
    selector = SimpleNamespace(tau=None)
    selector.set_temperature = lambda tau: setattr(selector, "tau", tau)
    model = SimpleNamespace(selector=selector)
    # 6 images, 4 per step: iteration i has seen 4 i images, epoch = floor(4 i / 6).
    hook = TemperatureHook(model, tau_init=5.0, decay=0.5, dataset_size=6, ims_per_batch=4)
    taus = []
    for it in range(7):
        hook.trainer = SimpleNamespace(iter=it)
        hook.before_step()
        taus.append(selector.tau)
    epochs = [0, 0, 1, 2, 2, 3, 4]
    assert taus == [5.0 * 0.5**e for e in epochs]


def test_smallest_legible_scale_keeps_the_smallest_word_at_min_height():
    scales = (0.8, 0.6, 0.4)
    assert smallest_legible_scale(30.0, scales, 12.0) == 0.4  # 30 * 0.4 = 12
    assert smallest_legible_scale(29.0, scales, 12.0) == 0.6
    assert smallest_legible_scale(10.0, scales, 12.0) == 0.8  # none fits: the largest
    assert smallest_legible_scale(math.inf, scales, 12.0) == 0.4  # no words: the smallest
