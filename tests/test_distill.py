"""The distillation and selector losses as pure functions (Eq. 2-4, 7-9)."""
import pytest
import torch
import torch.nn.functional as F

from dld_spotter.charset import EOS, IGNORE
from dld_spotter.distill import (
    acc_loss,
    beam_targets,
    con_loss,
    flops_loss,
    roi_loss,
    seq_loss,
    step_kl,
)


def test_beam_targets_ignore_everything_after_eos():
    ids = torch.tensor([[[3, 4, EOS, EOS, EOS], [3, EOS, EOS, EOS, EOS]]])
    t = beam_targets(ids)
    assert t.tolist() == [[[3, 4, EOS], [3, EOS, IGNORE]]]


def test_seq_loss_is_cross_entropy_on_the_teachers_beam():
    torch.manual_seed(0)
    beams = beam_targets(torch.tensor([[[2, 5, EOS, EOS]], [[7, EOS, EOS, EOS]]]))  # K = 1
    logits = torch.randn(2, 1, beams.shape[-1], 9, requires_grad=True)
    loss = seq_loss(logits, beams)
    expected = F.cross_entropy(logits[:, 0].flatten(0, 1), beams[:, 0].flatten(),
                               ignore_index=IGNORE)
    assert torch.allclose(loss, expected)
    loss.backward()
    assert logits.grad.abs().sum() > 0


def test_seq_loss_with_two_beams_is_minus_log_of_summed_sequence_probabilities():
    torch.manual_seed(0)
    beams = beam_targets(torch.tensor([[[2, 5, EOS], [2, EOS, EOS]]]))
    logits = torch.randn(1, 2, 3, 6)
    lp = logits.log_softmax(dim=-1)
    p1 = (lp[0, 0, 0, 2] + lp[0, 0, 1, 5] + lp[0, 0, 2, EOS]).exp()
    p2 = (lp[0, 1, 0, 2] + lp[0, 1, 1, EOS]).exp()
    assert torch.allclose(seq_loss(logits, beams), -torch.log(p1 + p2) / 3)


def test_acc_loss_zero_for_the_teachers_own_distribution_and_reaches_h_only():
    torch.manual_seed(0)
    teacher = torch.randn(3, 4, 7).softmax(dim=-1)
    other = torch.randn(3, 4, 7).softmax(dim=-1)
    students = torch.stack([other, teacher])  # scale 1 reproduces the teacher exactly
    targets = torch.tensor([[1, 2, 0, IGNORE]] * 3)
    h = torch.tensor([[0.0, 1.0]] * 3, requires_grad=True)
    assert acc_loss(h, students, teacher, targets).abs() < 1e-6
    wrong = acc_loss(torch.tensor([[1.0, 0.0]] * 3), students, teacher, targets)
    assert torch.allclose(wrong, step_kl(other.log(), teacher, targets))
    assert wrong > 0.01
    acc_loss(h, students, teacher, targets).backward()
    assert h.grad.abs().sum() > 0


def test_step_kl_ignores_unscored_steps():
    teacher = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]])
    student = torch.tensor([[[0.5, 0.5], [0.1, 0.9]]]).log()
    assert step_kl(student, teacher, torch.tensor([[1, IGNORE]])) == 0
    assert step_kl(student, teacher, torch.tensor([[1, 1]])) > 0


def test_flops_loss_is_normalised_by_the_largest():
    flops = torch.tensor([8.0, 4.0, 2.0])
    h = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert torch.isclose(flops_loss(h, flops), torch.tensor((1.0 + 0.25) / 2))


def test_feature_losses_are_mean_squared_errors_of_equal_shapes():
    a, b = torch.zeros(2, 4, 8, 32), torch.full((2, 4, 8, 32), 2.0)
    assert roi_loss(a, b) == 4.0
    assert con_loss(torch.zeros(2, 32, 6), torch.ones(2, 32, 6)) == 1.0
    with pytest.raises(ValueError, match="REC_HEAD"):
        roi_loss(a, torch.zeros(2, 4, 16, 64))
