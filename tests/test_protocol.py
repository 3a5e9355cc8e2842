"""The scoring rules (dld_spotter.evaluation.protocol), worked out by hand: geometry, detection,
end to end, the RRC text rules and word spotting, and a randomised comparison with a reference
of the official rules."""
import random
import re

import numpy as np
import pytest
from testing import arc_band, assert_prh, polygon_iou, record, rect

from dld_spotter.evaluation import (
    Protocol,
    accumulate,
    evaluate_image,
    evaluate_records,
    get_preset,
    to_geometry,
)
from dld_spotter.evaluation.protocol import dictionary_form, is_dictionary_word, unquote


def polygon_intersection_over_area(a, b):
    """Area of ``a`` ∩ ``b`` divided by the area of ``a`` (0 when ``a`` has zero area)."""
    a, b = to_geometry(a), to_geometry(b)
    return a.intersection(b).area / a.area if a.area > 0 else 0.0


def score(gts, preds, protocol=None, end_to_end=False):
    """Evaluate one image; ``gts`` = [(polygon, text, ignore)], ``preds`` = [(polygon, text)]."""
    result = evaluate_image(
        [g[0] for g in gts],
        [g[1] for g in gts],
        [g[2] for g in gts],
        [p[0] for p in preds],
        [p[1] for p in preds],
        [1.0] * len(preds),
        protocol or Protocol(),
        end_to_end=end_to_end,
    )
    return result, accumulate([result])


# --- geometry ---------------------------------------------------------------------------------


def test_polygon_iou_and_intersection_over_area():
    # [0,10]^2 vs [5,15]x[0,10]: intersection 50, union 150.
    assert polygon_iou(rect(0, 0, 10, 10), rect(5, 0, 15, 10)) == pytest.approx(1 / 3)
    # A 5x10 rectangle, 2/5 of it inside the square: 20 / 50.
    a, b = rect(8, 0, 13, 10), rect(0, 0, 10, 10)
    assert polygon_intersection_over_area(a, b) == pytest.approx(0.4)
    assert polygon_iou(rect(0, 0, 1, 1), rect(5, 5, 6, 6)) == 0.0


def test_self_intersecting_polygon_is_repaired():
    # A bow tie over [0,10]^2: two triangles of area 25 each; IoU with the square = 50 / 100.
    bow_tie = [0, 0, 10, 10, 10, 0, 0, 10]
    assert polygon_iou(bow_tie, rect(0, 0, 10, 10)) == pytest.approx(0.5)
    result, _ = score([(bow_tie, "a", 0)], [(rect(0, 0, 10, 10), "a")])
    assert result.num_tp == 0 and result.num_pred == 1  # IoU 0.5 is not > 0.5


def test_polygon_with_fewer_than_3_points_is_reported():
    with pytest.raises(ValueError, match="predicted polygon #1"):
        score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 10, 10), "a"), ([0, 0, 5, 5], "a")])
    with pytest.raises(ValueError, match="ground-truth polygon #0"):
        score([([0, 0, 5, 5, 6], "a", 0)], [])


# --- detection --------------------------------------------------------------------------------


def test_perfect_match():
    # 2 GT, 2 identical predictions: TP = 2, P = 2/2, R = 2/2, H = 1.
    gts = [(rect(0, 0, 10, 10), "ab", 0), (rect(20, 0, 40, 10), "cd", 0)]
    preds = [(rect(20, 0, 40, 10), "cd"), (rect(0, 0, 10, 10), "ab")]
    for end_to_end in (False, True):
        result, metrics = score(gts, preds, end_to_end=end_to_end)
        assert_prh(metrics, 1.0, 1.0, 1.0)
        assert sorted((m.gt_index, m.pred_index) for m in result.matches) == [(0, 1), (1, 0)]


@pytest.mark.parametrize(
    "width, matched",
    # GT [0,10]^2 (area 100); prediction [0,w]x[0,10] inside it: IoU = 10w / 100.
    [(4.9, False), (5.0, False), (5.1, True)],  # IoU 0.49, 0.50 (not > 0.5), 0.51
)
def test_iou_threshold_is_strict(width, matched):
    _, metrics = score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, width, 10), "a")])
    # matched: P = R = H = 1/1; else 1 FP and 1 miss: P = 0/1, R = 0/1, H = 0.
    expected = 1.0 if matched else 0.0
    assert_prh(metrics, expected, expected, expected)


def test_iou_threshold_is_a_setting():
    # IoU 0.3 matches under an IoU-0.1 protocol.
    gts, preds = [(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 3, 10), "a")]
    assert score(gts, preds)[1]["hmean"] == 0.0
    assert score(gts, preds, Protocol(iou_threshold=0.1))[1]["hmean"] == 1.0


def test_duplicate_predictions_give_one_tp_one_fp():
    # 1 GT, 2 predictions on it: TP = 1, P = 1/2, R = 1/1, H = 2 * 0.5 * 1 / 1.5 = 2/3.
    gts = [(rect(0, 0, 10, 10), "a", 0)]
    result, metrics = score(gts, [(rect(0, 0, 10, 10), "a"), (rect(0, 0, 10, 9), "a")])
    assert_prh(metrics, 0.5, 1.0, 2 / 3)
    assert result.num_pred == 2 and result.num_tp == 1


@pytest.mark.parametrize("matching, matched", [("official", 0), ("best", 1)])
def test_matching_order(matching, matched):
    # Predictions with IoU 0.6 (index 0) and 0.9 (index 1) on one GT: the official order takes
    # the first prediction over the threshold, "best" the highest IoU.
    result, _ = score(
        [(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 6, 10), "a"), (rect(0, 0, 9, 10), "a")],
        Protocol(matching=matching),
    )
    iou = {0: 0.6, 1: 0.9}[matched]
    assert [(m.pred_index, m.iou) for m in result.matches] == [(matched, pytest.approx(iou))]


def test_unknown_matching_order_is_an_error():
    with pytest.raises(ValueError, match="unknown matching 'iou'"):
        Protocol(matching="iou")


@pytest.mark.parametrize("text, ignore", [("###", 0), ("word", 1)])
def test_prediction_on_dont_care_gt_is_dropped(text, ignore):
    # Care GT A + don't-care GT B, one prediction on each: B's prediction is dropped.
    # TP = 1, kept predictions = 1, care GT = 1: P = R = H = 1.
    gts = [(rect(0, 0, 10, 10), "a", 0), (rect(20, 0, 30, 10), text, ignore)]
    result, metrics = score(gts, [(rect(0, 0, 10, 10), "a"), (rect(20, 0, 30, 10), "b")])
    assert_prh(metrics, 1.0, 1.0, 1.0)
    assert result.dropped == [1] and result.num_gt_care == 1 and result.num_gt_dont_care == 1


@pytest.mark.parametrize(
    "x1, dropped",
    # Don't-care [0,10]^2; prediction [x1, x1+10]x[0,10] has (10 - x1)/10 of its area inside it
    # and IoU (10 - x1) / (10 + x1) < 0.5 for these x1, so only the area rule can drop it.
    [(4, True), (5, False), (6, False)],  # inside 0.6 (> 0.5), 0.5 (not > 0.5), 0.4
)
def test_prediction_half_inside_dont_care_region(x1, dropped):
    gts = [(rect(0, 0, 10, 10), "###", 1), (rect(50, 0, 60, 10), "a", 0)]
    preds = [(rect(50, 0, 60, 10), "a"), (rect(x1, 0, x1 + 10, 10), "b")]
    result, metrics = score(gts, preds)
    # dropped: P = 1/1, R = 1/1, H = 1; kept: P = 1/2, R = 1/1, H = 2/3.
    if dropped:
        assert_prh(metrics, 1.0, 1.0, 1.0)
        assert result.dropped == [1]
    else:
        assert_prh(metrics, 0.5, 1.0, 2 / 3)
        assert result.dropped == []


def test_dont_care_regions_are_tested_one_by_one():
    # Prediction [0,20]x[0,10] (area 200) over two don't-care regions of 60 of it each (0.3):
    # 0.6 inside their union, but no single region holds more than half: kept, a false
    # positive (TP = 0, 1 kept prediction, 0 care GT). Also kept at 0.15 + 0.45 (union 0.6);
    # dropped at 0.55 inside one region.
    gts = [(rect(-10, 0, 6, 10), "###", 1), (rect(14, 0, 30, 10), "###", 1)]
    result, metrics = score(gts, [(rect(0, 0, 20, 10), "a")])
    assert result.dropped == [] and (metrics["num_tp"], metrics["num_pred"]) == (0, 1)
    result, metrics = score(gts, [(rect(3, 0, 23, 10), "a")])  # 3/20 and 9/20 = 0.45
    assert result.dropped == []
    result, metrics = score(gts, [(rect(19, 0, 39, 10), "a")])  # 11/20 in the second
    assert result.dropped == [0] and metrics["num_pred"] == 0


def test_curved_polygons_use_polygon_not_box_iou():
    # U shape, 8 points: [0,30]^2 minus the notch [10,20]x[10,30]; area 900 - 200 = 700.
    u_shape = [0, 0, 30, 0, 30, 30, 20, 30, 20, 10, 10, 10, 10, 30, 0, 30]
    gts = [(u_shape, "u", 0)]
    # Its bounding box: IoU 700 / 900 = 0.78 -> match; P = R = H = 1.
    assert_prh(score(gts, [(rect(0, 0, 30, 30), "u")])[1], 1.0, 1.0, 1.0)
    # [5,25]x[0,30] (area 600): box IoU 600/900 = 0.67 but polygon intersection
    # 200 (bar) + 100 + 100 (arms) = 400, IoU = 400 / (700 + 600 - 400) = 0.44 -> no match.
    assert polygon_iou(u_shape, rect(5, 0, 25, 30)) == pytest.approx(4 / 9)
    assert_prh(score(gts, [(rect(5, 0, 25, 30), "u")])[1], 0.0, 0.0, 0.0)


def test_curved_14_point_polygons():
    gt = arc_band(180)  # 6 equal trapezoids, angles 0..180 in steps of 30
    assert len(gt) == 28
    # The first 4 trapezoids (0..120) are 4/6 of the band: IoU 2/3 -> match.
    # The first 2 (0..60) are 2/6 of it: IoU 1/3 -> no match.
    assert polygon_iou(gt, arc_band(120, points=5)) == pytest.approx(2 / 3)
    assert score([(gt, "arc", 0)], [(arc_band(120, points=5), "ARC")], end_to_end=True)[1][
        "hmean"
    ] == pytest.approx(1.0)
    assert score([(gt, "arc", 0)], [(arc_band(60, points=3), "arc")])[1]["hmean"] == 0.0


# --- end to end -------------------------------------------------------------------------------


def test_transcription_is_case_insensitive_by_default():
    gts, preds = [(rect(0, 0, 10, 10), "Hello", 0)], [(rect(0, 0, 10, 10), "hELLO")]
    assert_prh(score(gts, preds, end_to_end=True)[1], 1.0, 1.0, 1.0)
    # Case-sensitive: the match has a wrong text: 1 FP and 1 miss, P = R = H = 0.
    result, metrics = score(gts, preds, Protocol(case_sensitive=True), end_to_end=True)
    assert_prh(metrics, 0.0, 0.0, 0.0)
    assert [m.text_correct for m in result.matches] == [False]
    # A wrong text still counts for detection.
    assert_prh(score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 10, 10), "b")])[1], 1, 1, 1)


def test_best_matching_prefers_pairs_with_the_right_text():
    # GT "abc" [0,10]^2; prediction 0 = the exact box reading "abd" (IoU 1.0), prediction 1 =
    # [0,10]x[0,9] reading "abc" (IoU 0.9).
    gts = [(rect(0, 0, 10, 10), "abc", 0)]
    preds = [(rect(0, 0, 10, 10), "abd"), (rect(0, 0, 10, 9), "abc")]
    # "best": prediction 1 is matched: TP = 1, 2 predictions: P = 1/2, R = 1/1, H = 2/3.
    best = Protocol(matching="best")
    result, metrics = score(gts, preds, best, end_to_end=True)
    assert_prh(metrics, 0.5, 1.0, 2 / 3)
    assert [(m.pred_index, m.text_correct) for m in result.matches] == [(1, True)]
    # Detection keeps the highest-IoU pair.
    assert [m.pred_index for m in score(gts, preds, best)[0].matches] == [0]
    # Official: the first prediction takes the GT with its wrong text: TP = 0, P = R = H = 0.
    result, metrics = score(gts, preds, end_to_end=True)
    assert_prh(metrics, 0.0, 0.0, 0.0)
    assert [(m.pred_index, m.text_correct) for m in result.matches] == [(0, False)]


def test_accumulate_sums_counts_over_images():
    # Image 1: 1 GT, 1 TP. Image 2: 2 GT, 1 FP. Image 3: no GT, 1 FP. Image 4: empty.
    # TP = 1, P = 1/3, R = 1/3, H = 1/3.
    r1, _ = score([(rect(0, 0, 10, 10), "a", 0)], [(rect(0, 0, 10, 10), "a")])
    r2, _ = score(
        [(rect(0, 0, 10, 10), "a", 0), (rect(20, 0, 30, 10), "b", 0)],
        [(rect(50, 50, 60, 60), "c")],
    )
    r3, _ = score([], [(rect(0, 0, 10, 10), "a")], end_to_end=True)
    r4, _ = score([], [], end_to_end=True)
    metrics = accumulate([r1, r2, r3, r4])
    assert_prh(metrics, 1 / 3, 1 / 3, 1 / 3)
    assert (metrics["num_tp"], metrics["num_pred"], metrics["num_gt"]) == (1, 3, 3)


# --- text rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gt, pred, correct",
    [
        ("EXIT!", "exit", True),  # one special character dropped at the end
        ("(EXIT", "Exit", True),  # ... at the start
        ("(EXIT)", "EXIT", True),  # ... one at each end
        ("[EXIT]", "EXIT]", True),  # ... or only one of the two
        ("EXIT!", "EXIT!", True),  # kept
        ("EXIT!!", "EXIT", False),  # only one character per end
        ("EXIT", "EXIT!", False),  # only the ground truth loses characters
        ("EX!T", "EXT", False),  # only at the ends
        ("EXIT#", "EXIT", False),  # '#' is not in the RRC list
        ("!", "", True),  # as the official script: "!" without its special character is ""
    ],
)
def test_special_character_rule(gt, pred, correct):
    """End to end only; word spotting is in test_word_spotting_compares_with_the_rewritten_gt."""
    assert Protocol().transcription_matches(pred, gt) is correct
    # End to end on one box: a correct reading is P = R = H = 1, a wrong one 0.
    _, metrics = score([(rect(0, 0, 10, 10), gt, 0)], [(rect(0, 0, 10, 10), pred)],
                       end_to_end=True)
    assert metrics["hmean"] == (1.0 if correct else 0.0)
    # Turned off, only equality (ignoring case) counts.
    assert Protocol(special_characters="").transcription_matches(pred, gt) is (
        gt.casefold() == pred.casefold()
    )


@pytest.mark.parametrize(
    "text, form, is_word",
    [
        ("abc", "abc", True), ("ab", "ab", False), ("(ab)", "ab", False),
        ("(abc)", "abc", True), ("co-op", "co-op", True), ("-co-op-", "co-op", True),
        ("Café", "Café", True), ("Straße", "Straße", True), ("Ωμέγα", "Ωμέγα", True),
        ("abc1", "abc1", False), ("a.b", "a b", False), ("1990", "1990", False),
        ("abc!", "abc", True), ("sale!!", "sale", True), ("\"(sale)\"", "sale", True),
        ("cafe's", "cafe", True), ("CAFE'S", "CAFE", True), ("O'Neil's", "O Neil", False),
        ("cafe's.", "cafe s", False), ("'s", "", False),
        ("мир", "мир", False),  # Cyrillic is outside the allowed ranges
        ("a×b", "a×b", False), ("a÷b", "a÷b", False),  # inside À-ƿ, but not letters
    ],
)
def test_dictionary_word_rule(text, form, is_word):
    assert dictionary_form(text) == form
    assert is_dictionary_word(text) is is_word
    assert Protocol(word_spotting=True).is_dont_care(text, False) is not is_word
    assert not Protocol().is_dont_care(text, False)


def test_word_spotting_makes_non_words_dont_care_and_drops_their_predictions():
    # GT "EXIT", "ab" (too short), "2024" (digits); predictions on each: "exit", "ab", "2025".
    gts = [(rect(0, 0, 10, 10), "EXIT", 0), (rect(20, 0, 30, 10), "ab", 0),
           (rect(40, 0, 50, 10), "2024", 0)]
    preds = [(rect(0, 0, 10, 10), "exit"), (rect(20, 0, 30, 10), "ab"),
             (rect(40, 0, 50, 10), "2025")]
    # End to end: TP = exit, ab; 3 predictions, 3 GT: P = R = H = 2/3.
    assert_prh(score(gts, preds, end_to_end=True)[1], 2 / 3, 2 / 3, 2 / 3)
    # Word spotting: "ab" and "2024" are don't-care and the predictions on them are dropped
    # (the wrong "2025" is not a false positive): TP = 1 of 1 kept, 1 care GT: P = R = H = 1.
    result, metrics = score(gts, preds, Protocol(word_spotting=True), end_to_end=True)
    assert_prh(metrics, 1.0, 1.0, 1.0)
    assert result.dropped == [1, 2] and result.dont_care == [1, 2]


# --- the official RRC rules (ICDAR 2015 end to end, task 4.4), worked out by hand -----------
# Each case gives (TP, cared detections, cared ground truths) end to end, then word spotting.

CARE_WORD = (rect(100, 0, 110, 10), "HOTEL", 0)  # a care word read correctly in every case
CARE_READING = (rect(100, 0, 110, 10), "hotel")


def official_counts(gts, preds, word_spotting, **settings):
    """(TP, cared detections, cared GT) end to end, or in word spotting, of one image."""
    protocol = Protocol(word_spotting=word_spotting, **settings)
    result, _ = score(gts, preds, protocol, end_to_end=True)
    return result.num_tp, result.num_pred, result.num_gt_care


@pytest.mark.parametrize(
    "gt, pred, e2e, ws",
    [
        ("sale!", "sale!", (1, 1, 1), (0, 1, 1)),  # word spotting compares with "sale"
        ("sale!", "sale", (1, 1, 1), (1, 1, 1)),
        ("(EXIT)", "EXIT)", (1, 1, 1), (0, 1, 1)),
        ("EXIT!!", "EXIT", (0, 1, 1), (1, 1, 1)),  # end to end drops one character per end
        ("EXIT!!", "EXIT!", (1, 1, 1), (0, 1, 1)),
        ("cafe's", "cafe", (0, 1, 1), (1, 1, 1)),  # 's goes in word spotting only
        ("cafe's", "CAFE'S", (1, 1, 1), (0, 1, 1)),
    ],
)
def test_word_spotting_compares_with_the_rewritten_gt(gt, pred, e2e, ws):
    gts, preds = [(rect(0, 0, 10, 10), gt, 0)], [(rect(0, 0, 10, 10), pred)]
    assert official_counts(gts, preds, word_spotting=False) == e2e
    assert official_counts(gts, preds, word_spotting=True) == ws


def test_official_matching_judges_the_text_after_the_geometry():
    # GT "abc" [0,10]^2 and "xyz" [20,30]x[0,10]; predictions in file order: "abd" on abc
    # (IoU 0.6), "ABC" on abc (IoU 0.9), "xyz" on xyz (IoU 1).
    gts = [(rect(0, 0, 10, 10), "abc", 0), (rect(20, 0, 30, 10), "xyz", 0)]
    preds = [(rect(0, 0, 6, 10), "abd"), (rect(0, 0, 9, 10), "ABC"), (rect(20, 0, 30, 10), "xyz")]
    # Official: abc takes the first prediction over the IoU threshold, "abd" (wrong), and the
    # exact "ABC" is a false positive: TP = 1 (xyz), 3 cared detections, 2 cared GT.
    for word_spotting in (False, True):
        assert official_counts(gts, preds, word_spotting) == (1, 3, 2)
        # "best": correct readings first: TP = 2.
        assert official_counts(gts, preds, word_spotting, matching="best") == (2, 3, 2)
    # Detection: both orders find 2.
    for matching in ("official", "best"):
        assert score(gts, preds, Protocol(matching=matching))[0].num_tp == 2


def test_dont_care_regions_drop_a_detection_one_by_one():
    # Detection [0,16]x[0,10] (area 160) with 60 (37.5 %) inside each of two don't-care
    # regions, [-10,6] and [10,26] (x), 75 % inside their union: kept, a false positive.
    gts = [(rect(-10, 0, 6, 10), "###", 1), (rect(10, 0, 26, 10), "###", 1), CARE_WORD]
    preds = [(rect(0, 0, 16, 10), "x"), CARE_READING]
    for word_spotting in (False, True):
        assert official_counts(gts, preds, word_spotting) == (1, 2, 1)


@pytest.mark.parametrize(
    "gt, pred, e2e, ws",
    [
        ("cafe's", "cafe", (0, 1, 1), (1, 1, 1)),  # cared about, as "cafe"
        ("sale!!", "sale", (0, 1, 1), (1, 1, 1)),  # cared about, as "sale"
        ("мир", "мир", (1, 1, 1), (0, 0, 0)),  # don't care: the detection on it is dropped
        ("2024", "2025", (0, 1, 1), (0, 0, 0)),  # digits: don't care, a wrong reading dropped
    ],
)
def test_dictionary_rule_in_word_spotting(gt, pred, e2e, ws):
    gts, preds = [(rect(0, 0, 10, 10), gt, 0)], [(rect(0, 0, 10, 10), pred)]
    assert official_counts(gts, preds, word_spotting=False) == e2e
    assert official_counts(gts, preds, word_spotting=True) == ws


@pytest.mark.parametrize(
    "gt, pred, e2e, ws",
    [
        ('"SALE!"', "sale", (1, 1, 1), (1, 1, 1)),  # read as SALE!
        ("SALE", '"sale"', (1, 1, 1), (1, 1, 1)),  # the detection's quotes go too
        ('"###"', "x", (0, 0, 0), (0, 0, 0)),  # a quoted ### is don't care
        ("sale", '""sale""', (0, 1, 1), (0, 1, 1)),  # one pair only: "sale" is wrong
    ],
)
def test_one_pair_of_surrounding_quotes_is_stripped(gt, pred, e2e, ws):
    gts, preds = [(rect(0, 0, 10, 10), gt, 0)], [(rect(0, 0, 10, 10), pred)]
    assert official_counts(gts, preds, word_spotting=False) == e2e
    assert official_counts(gts, preds, word_spotting=True) == ws
    assert unquote('"a"b"') == 'a"b' and unquote('"') == '"' and unquote('""') == ""


# --- randomised comparison with a reference of the official rules ---------------------------
# Written from the rules as the RRC describes them, on integer rectangles (areas by hand), in
# the official script's shape: loops over ground truths and detections in file order.

REF_SPECIALS = "!?.:,*\"()·[]/'"
REF_LETTER_RANGES = [("a", "z"), ("A", "Z"), ("À", "ƿ"), ("Ǆ", "ɿ"), ("Ά", "Ͽ"), ("-", "-")]


def ref_parse(text):
    quoted = re.fullmatch(r'"(.*)"', text, flags=re.DOTALL)
    return quoted.group(1) if quoted else text


def ref_rewrite(word):
    if word[-2:] in ("'s", "'S"):
        word = word[:-2]
    word = word.strip("-")
    for c in REF_SPECIALS:
        word = word.replace(c, " ")
    return word.strip()


def ref_in_dictionary(word):
    word = ref_rewrite(word)
    if " " in word or len(word) < 3:
        return False
    return all(c not in "×÷" and any(lo <= c <= hi for lo, hi in REF_LETTER_RANGES)
               for c in word)


def ref_e2e_match(gt, det):
    gt, det = gt.upper(), det.upper()
    first, last = gt[:1] in list(REF_SPECIALS), gt[-1:] in list(REF_SPECIALS)
    return (gt == det or (first and gt[1:] == det) or (last and gt[:-1] == det)
            or (first and last and gt[1:-1] == det))


def ref_area(box):
    return (box[2] - box[0]) * (box[3] - box[1])


def ref_intersection(a, b):
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(w, 0) * max(h, 0)


def ref_image(gts, dets, mode):
    """(matched with a correct text or, in detection mode, matched; cared detections; cared
    GT) of one image; gts and dets are [(box x1 y1 x2 y2, text)], mode "det", "e2e" or "ws"."""
    gt_texts, gt_dont_care = [], []
    for _, text in gts:
        text = ref_parse(text)
        dont_care = text == "###"
        if mode == "ws":
            if ref_in_dictionary(text):
                text = ref_rewrite(text)
            else:
                dont_care = True
        gt_texts.append(text)
        gt_dont_care.append(dont_care)
    det_dont_care = []
    for box, _ in dets:
        det_dont_care.append(any(
            ref_intersection(gts[g][0], box) / ref_area(box) > 0.5
            for g in range(len(gts)) if gt_dont_care[g]
        ))
    gt_taken, det_taken, hits = [False] * len(gts), [False] * len(dets), 0
    for g, (gt_box, _) in enumerate(gts):
        for d, (det_box, det_text) in enumerate(dets):
            if gt_taken[g] or det_taken[d] or gt_dont_care[g] or det_dont_care[d]:
                continue
            inter = ref_intersection(gt_box, det_box)
            if inter / (ref_area(gt_box) + ref_area(det_box) - inter) > 0.5:
                gt_taken[g] = det_taken[d] = True
                det_text = ref_parse(det_text)
                if mode == "det":
                    hits += 1
                elif mode == "ws":
                    hits += gt_texts[g].upper() == det_text.upper()
                else:
                    hits += ref_e2e_match(gt_texts[g], det_text)
    return hits, det_dont_care.count(False), gt_dont_care.count(False)


GT_WORDS = ["SALE", "sale!", "(EXIT)", "EXIT!!", "cafe's", "CAFE'S", "мир", "ab", "2024", "###",
            '"SALE"', '"###"', "co-op", "-co-op-", "O'Neil's", "a.b", "Ωμέγα", "Straße", "a×b",
            "!", "x!", "Hotel"]


def random_reading(rng, word):
    """A detection's text: the word itself or a near miss of it."""
    variants = [word, word.lower(), word.upper(), word[1:], word[:-1], word[1:-1],
                ref_rewrite(word), f'"{word}"', word + "!", rng.choice(GT_WORDS)]
    return rng.choice(variants)


def random_box(rng, near=None):
    if near is None:
        x, y = rng.randint(0, 50), rng.randint(0, 20)
        return (x, y, x + rng.randint(6, 20), y + rng.randint(5, 10))
    x1, y1, x2, y2 = (v + rng.randint(-2, 2) for v in near)
    return (x1, y1, max(x2, x1 + 1), max(y2, y1 + 1))


def random_image(rng):
    gts = [(random_box(rng), rng.choice(GT_WORDS)) for _ in range(rng.randint(0, 5))]
    dets = []
    for _ in range(rng.randint(0, 6)):
        if gts and rng.random() < 0.8:
            box, word = rng.choice(gts)
            dets.append((random_box(rng, box), random_reading(rng, word)))
        else:
            dets.append((random_box(rng), rng.choice(GT_WORDS)))
    return gts, dets


def test_random_images_agree_with_a_reference_of_the_official_rules():
    rng = random.Random(2015)
    images = [random_image(rng) for _ in range(300)]
    dataset_dicts = [
        {"image_id": i, "file_name": f"img_{i}.jpg",
         "annotations": [{"segmentation": [rect(*box)], "text": t, "ignore": 0} for box, t in gts]}
        for i, (gts, _) in enumerate(images)
    ]
    records = [record(i, rect(*box), text) for i, (_, dets) in enumerate(images)
               for box, text in dets]
    results = evaluate_records(dataset_dicts, records, preset=get_preset("ic15").with_modes(
        ("none",)))
    tasks = {"det": results["detection"], "e2e": results["end_to_end"]["none"],
             "ws": results["word_spotting"]["none"]}
    differs_from_best = 0
    for mode, ours in tasks.items():
        kind = {"det": None, "e2e": False, "ws": True}[mode]
        totals = np.zeros(3, dtype=int)
        for gts, dets in images:
            expected = ref_image(gts, dets, mode)
            gt_args = ([rect(*b) for b, _ in gts], [t for _, t in gts], [0] * len(gts))
            pred_args = ([rect(*b) for b, _ in dets], [t for _, t in dets])
            for matching in ("official", "best"):
                protocol = Protocol(word_spotting=bool(kind), matching=matching)
                result = evaluate_image(*gt_args, *pred_args, protocol=protocol,
                                        end_to_end=kind is not None)
                counts = (result.num_tp, result.num_pred, result.num_gt_care)
                if matching == "official":
                    assert counts == expected, (mode, gts, dets)
                else:
                    differs_from_best += counts != expected
            totals += expected
        tp, num_det, num_gt = (int(v) for v in totals)
        precision, recall = tp / num_det, tp / num_gt
        hmean = 2 * precision * recall / (precision + recall)
        assert (ours["num_tp"], ours["num_pred"], ours["num_gt"]) == (tp, num_det, num_gt)
        for name, value in (("precision", precision), ("recall", recall), ("hmean", hmean)):
            assert round(ours[name], 4) == round(value, 4), (mode, name)
    # The data exercise the rules: the two matching orders and both modes differ somewhere.
    assert differs_from_best > 0
    assert tasks["e2e"]["num_tp"] != tasks["ws"]["num_tp"]
    assert tasks["e2e"]["num_gt"] > tasks["ws"]["num_gt"] > 0
