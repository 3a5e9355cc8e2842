"""The distillation and selector losses as pure functions (Eq. 2-4, 7-9)."""
import math

import pytest
import torch
import torch.nn.functional as F

from dld_spotter.charset import EOS, IGNORE
from dld_spotter.distill import (
    KL_DIRECTIONS,
    acc_loss,
    acc_loss_per_image,
    affinity_loss,
    aligned_feature_loss,
    beam_targets,
    con_loss,
    expected_acc_loss,
    flops_in_unit,
    flops_loss,
    read_correctly,
    roi_loss,
    seq_loss,
    step_kl,
    step_mse,
)


def test_beam_targets_ignore_everything_after_eos():
    ids = torch.tensor([[[3, 4, EOS, EOS, EOS], [3, EOS, EOS, EOS, EOS]]])
    t = beam_targets(ids)
    assert t.tolist() == [[[3, 4, EOS], [3, EOS, IGNORE]]]


def test_seq_loss_is_the_mean_per_sequence_negative_log_probability():
    """Eq. 9 as the paper writes it: a sequence's log-probability, not per character; the
    "character" reading is the per-character cross-entropy (they differ for any word of
    more than zero characters, so each reading fails the other's assertion)."""
    torch.manual_seed(0)
    beams = beam_targets(torch.tensor([[[2, 5, EOS, EOS]], [[7, EOS, EOS, EOS]]]))  # K = 1
    logits = torch.randn(2, 1, beams.shape[-1], 9, requires_grad=True)
    lp = logits.detach().log_softmax(dim=-1)
    seq1 = lp[0, 0, 0, 2] + lp[0, 0, 1, 5] + lp[0, 0, 2, EOS]
    seq2 = lp[1, 0, 0, 7] + lp[1, 0, 1, EOS]
    loss = seq_loss(logits, beams)
    assert torch.allclose(loss, -(seq1 + seq2) / 2)
    per_char = F.cross_entropy(logits[:, 0].flatten(0, 1), beams[:, 0].flatten(),
                               ignore_index=IGNORE)
    assert torch.allclose(seq_loss(logits, beams, per="character"), per_char)
    assert not torch.allclose(loss, per_char)
    loss.backward()
    assert logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="SEQ_LOSS_PER"):
        seq_loss(logits, beams, per="word")


def test_seq_loss_with_two_beams_is_minus_log_of_summed_sequence_probabilities():
    torch.manual_seed(0)
    beams = beam_targets(torch.tensor([[[2, 5, EOS], [2, EOS, EOS]]]))
    logits = torch.randn(1, 2, 3, 6)
    lp = logits.log_softmax(dim=-1)
    p1 = (lp[0, 0, 0, 2] + lp[0, 0, 1, 5] + lp[0, 0, 2, EOS]).exp()
    p2 = (lp[0, 1, 0, 2] + lp[0, 1, 1, EOS]).exp()
    assert torch.allclose(seq_loss(logits, beams), -torch.log(p1 + p2))
    assert torch.allclose(seq_loss(logits, beams, per="character"), -torch.log(p1 + p2) / 3)


def test_read_correctly_compares_whole_words_of_any_padded_length():
    best = torch.tensor([[3, 4, EOS], [3, EOS, IGNORE], [3, 5, EOS]])
    truth = torch.tensor([[3, 4, EOS, IGNORE], [3, 4, EOS, IGNORE], [3, 5, 6, EOS]])
    assert read_correctly(best, truth).tolist() == [True, False, False]
    assert read_correctly(truth, best).tolist() == [True, False, False]
    assert read_correctly(truth[:, :2], truth).tolist() == [False, False, False]


def test_seq_loss_does_not_score_a_roi_without_beams():
    """SEQ_WORDS "read" blanks a misread word's beams: it adds nothing to either form."""
    torch.manual_seed(0)
    beams = beam_targets(torch.tensor([[[2, 5, EOS], [2, EOS, EOS]], [[7, EOS, EOS]] * 2]))
    logits = torch.randn(2, 2, 3, 9)
    blank = beams.clone()
    blank[1] = IGNORE
    for per in ("sequence", "character"):
        assert torch.allclose(seq_loss(logits, blank, per), seq_loss(logits[:1], beams[:1], per))


def test_acc_loss_zero_for_the_teachers_own_distribution_and_reaches_h_only():
    torch.manual_seed(0)
    teacher = torch.randn(3, 4, 7).softmax(dim=-1)
    other = torch.randn(3, 4, 7).softmax(dim=-1)
    students = torch.stack([other, teacher])  # scale 1 reproduces the teacher exactly
    targets = torch.tensor([[1, 2, 0, IGNORE]] * 3)
    h = torch.tensor([[0.0, 1.0]] * 3, requires_grad=True)
    for direction in KL_DIRECTIONS:
        assert acc_loss(h, students, teacher, targets, direction).abs() < 1e-6
        wrong = acc_loss(torch.tensor([[1.0, 0.0]] * 3), students, teacher, targets, direction)
        assert wrong > 0.01
    acc_loss(h, students, teacher, targets).backward()
    assert h.grad.abs().sum() > 0


def test_acc_loss_is_kl_of_the_mixture_to_the_teacher_in_the_papers_order():
    """Eq. 2: KL(sum_i h_i y_si, y) = sum mix * log(mix / y) on a hand-worked pair where the
    two orders differ: mix = (0.9, 0.1), y = (0.5, 0.5)."""
    mix = torch.tensor([[[0.9, 0.1]]])
    teacher = torch.tensor([[[0.5, 0.5]]])
    targets = torch.tensor([[1]])
    h = torch.tensor([[1.0]])
    forward = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)  # 0.3681
    reverse = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)  # 0.5108
    paper = acc_loss(h, mix[None], teacher, targets)
    assert paper.item() == pytest.approx(forward, abs=1e-5)
    assert acc_loss(h, mix[None], teacher, targets, "teacher_mixture").item() == pytest.approx(
        reverse, abs=1e-5)
    with pytest.raises(ValueError, match="KL_DIRECTION"):
        acc_loss(h, mix[None], teacher, targets, "symmetric")


def test_acc_loss_per_image_mean_weighs_each_image_once():
    """Image 0: three one-step words read as the teacher does (KL 0); image 1: one word of
    one step at KL(mix || y) = k. Over steps: k / 4; per image: (0 + k) / 2."""
    teacher = torch.tensor([[[0.5, 0.5]]] * 4)
    student = torch.tensor([[[0.5, 0.5]]] * 3 + [[[0.9, 0.1]]])[None]
    h, targets = torch.ones(4, 1), torch.tensor([[1]] * 4)
    k = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert acc_loss(h, student, teacher, targets).item() == pytest.approx(k / 4, abs=1e-5)
    per_image = acc_loss(h, student, teacher, targets, images=torch.tensor([0, 0, 0, 1]))
    assert per_image.item() == pytest.approx(k / 2, abs=1e-5)
    # an image whose steps are all IGNORE does not count as a zero
    targets[:3] = IGNORE
    assert acc_loss(h, student, teacher, targets, images=torch.tensor([0, 0, 0, 1])).item() \
        == pytest.approx(k, abs=1e-5)


def test_expected_acc_loss_is_the_p_weighted_kl_of_each_scale_not_of_the_mixture():
    """Scales give (0.9, 0.1) and (0.5, 0.5), the teacher (0.5, 0.5): KL 0.3681 and 0; with
    p = (0.25, 0.75) the expectation is 0.25 * 0.3681, the mixture's KL much less."""
    student = torch.tensor([[[[0.9, 0.1]]], [[[0.5, 0.5]]]])
    teacher, targets = torch.tensor([[[0.5, 0.5]]]), torch.tensor([[1]])
    p = torch.tensor([[0.25, 0.75]])
    k = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    assert expected_acc_loss(p, student, teacher, targets).item() == pytest.approx(k / 4,
                                                                                 abs=1e-5)
    assert acc_loss(p, student, teacher, targets).item() < k / 10
    with pytest.raises(ValueError, match="KL_DIRECTION"):
        expected_acc_loss(p, student, teacher, targets, "symmetric")


def test_acc_loss_per_image_is_each_images_kl_at_each_scale():
    """Scales give (0.9, 0.1) and (0.5, 0.5), the teacher (0.5, 0.5) at every step: KL k and 0.
    Image 0 has two RoIs whose steps are the 0.9 / 0.5 ones and the 0.5 / 0.5 ones, image 1
    one RoI with one scored step, image 2 none."""
    k = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)
    even, odd = [0.9, 0.1], [0.5, 0.5]
    student = torch.tensor([[[even, even], [odd, odd], [even, even]],
                            [[odd, odd], [odd, odd], [odd, odd]]])  # (k=2, N=3, T=2, K=2)
    teacher = torch.full((3, 2, 2), 0.5)
    targets = torch.tensor([[1, 1], [1, 1], [1, IGNORE]])
    images = torch.tensor([0, 0, 1])
    per_image = acc_loss_per_image(student, teacher, targets, images, 3)
    assert torch.allclose(per_image, torch.tensor([[k / 2, 0], [k, 0], [0, 0]]), atol=1e-5)
    # with any p, the mean over the images that have words is expected_acc_loss per image
    p = torch.tensor([[0.3, 0.7], [0.6, 0.4], [0.5, 0.5]])
    assert (p * per_image)[:2].sum(1).mean().item() == pytest.approx(
        expected_acc_loss(p[images], student, teacher, targets, images=images).item(), abs=1e-6)
    with pytest.raises(ValueError, match="KL_DIRECTION"):
        acc_loss_per_image(student, teacher, targets, images, 3, "symmetric")


def test_acc_loss_gradient_to_h_follows_the_papers_order():
    """d KL(mix || y) / d h_i = sum y_si (log(mix / y) + 1), not -sum y * y_si / mix."""
    student = torch.tensor([[[[0.9, 0.1]]], [[[0.2, 0.8]]]])  # (k=2, N=1, T=1, K=2)
    teacher = torch.tensor([[[0.5, 0.5]]])
    h = torch.tensor([[0.5, 0.5]], requires_grad=True)
    acc_loss(h, student, teacher, torch.tensor([[1]])).backward()
    mix = 0.5 * student[0, 0, 0] + 0.5 * student[1, 0, 0]
    expected = [(student[i, 0, 0] * ((mix / teacher[0, 0]).log() + 1)).sum() for i in (0, 1)]
    assert torch.allclose(h.grad[0], torch.stack(expected), atol=1e-5)


def test_step_kl_ignores_unscored_steps():
    teacher = torch.tensor([[[0.5, 0.5], [0.9, 0.1]]])
    student = torch.tensor([[[0.5, 0.5], [0.1, 0.9]]]).log()
    assert step_kl(student, teacher, torch.tensor([[1, IGNORE]])) == 0
    assert step_kl(student, teacher, torch.tensor([[1, 1]])) > 0


def test_flops_loss_in_units_of_the_largest_or_in_gflops():
    flops = torch.tensor([8e9, 4e9, 2e9])
    h = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert torch.isclose(flops_loss(h, flops), torch.tensor((1.0 + 0.25) / 2))
    assert torch.isclose(flops_loss(h, flops, "gflops"), torch.tensor((8.0 + 2.0) / 2))
    with pytest.raises(ValueError, match="FLOPS_UNIT"):
        flops_loss(h, flops, "tflops")
    assert flops_in_unit(flops).tolist() == [1.0, 0.5, 0.25]
    assert flops_in_unit(flops, "gflops").tolist() == [8.0, 4.0, 2.0]


def test_feature_losses_are_mean_squared_errors_of_equal_shapes():
    a, b = torch.zeros(2, 4, 8, 32), torch.full((2, 4, 8, 32), 2.0)
    assert roi_loss(a, b) == 4.0
    assert con_loss(torch.zeros(2, 32, 6), torch.ones(2, 32, 6)) == 1.0
    with pytest.raises(ValueError, match="REC_HEAD"):
        roi_loss(a, torch.zeros(2, 4, 16, 64))


def test_normalized_roi_loss_ignores_per_roi_channel_offsets_and_scales_only():
    torch.manual_seed(0)
    teacher = torch.randn(3, 4, 8, 32)
    affine = teacher * torch.rand(3, 4, 1, 1).add(0.5) + torch.randn(3, 4, 1, 1) * 5
    assert roi_loss(affine, teacher) > 1.0  # the paper's pooled features see the difference
    assert roi_loss(affine, teacher, "normalized") < 1e-6
    shuffled = teacher.flip(-1)  # the same values, another word
    assert roi_loss(shuffled, teacher, "normalized") > 1.0
    with pytest.raises(ValueError, match="ROI_FEATURES"):
        roi_loss(teacher, teacher, "whitened")


def test_step_mse_compares_scored_steps_only():
    teacher = torch.zeros(1, 3, 4)
    student = torch.zeros(1, 3, 4)
    student[0, 2] = 2.0  # only the unscored step differs
    targets = torch.tensor([[5, EOS, IGNORE]])
    assert step_mse(student, teacher, targets) == 0
    student[0, 1] = 1.0
    assert step_mse(student, teacher, targets).item() == pytest.approx(0.5)  # (0 + 1) / 2


def test_affinity_loss_sees_relations_between_characters_not_their_scale():
    torch.manual_seed(0)
    teacher = torch.randn(2, 4, 8)
    targets = torch.tensor([[1, 2, EOS, IGNORE], [3, EOS, IGNORE, IGNORE]])
    assert affinity_loss(3.0 * teacher, teacher, targets) < 1e-6  # same relations, other norm
    other = teacher.clone()
    other[:, 3] = torch.randn(2, 8)  # an unscored step changes: no effect
    assert affinity_loss(other, teacher, targets) < 1e-6
    other[0, 1] = -teacher[0, 0]  # character 2 now opposes character 1
    assert affinity_loss(other, teacher, targets) > 0.1


def test_aligned_feature_loss_compares_the_common_extent_of_each_pair():
    torch.manual_seed(0)
    student = [torch.randn(1, 2, 5, 7), torch.randn(1, 2, 3, 4)]
    teacher = [torch.randn(1, 2, 5, 8), torch.randn(1, 2, 3, 4)]
    expected = (F.mse_loss(student[0], teacher[0][..., :7])
                + F.mse_loss(student[1], teacher[1])) / 2
    assert torch.allclose(aligned_feature_loss(student, teacher), expected)
