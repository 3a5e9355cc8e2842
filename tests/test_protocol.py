"""Tests of the full protocols: RRC text rules, word spotting, lexicons, presets, the CLI."""
import json
import logging
import os
import random
import re
import string
import subprocess
import sys

import cv2
import numpy as np
import pytest
from detectron2.data import DatasetCatalog, MetadataCatalog
from test_text_evaluator import assert_prh, rect, score

from dld_spotter.data import load_text_json, register_text_dataset
from dld_spotter.evaluation import (
    Lexicon,
    Protocol,
    TextSpottingEvaluator,
    correct_text,
    edit_distance,
    evaluate_image,
    evaluate_records,
    format_results_table,
    get_preset,
    metrics_in_percent,
    preset_for_dataset,
)
from dld_spotter.evaluation.__main__ import main
from dld_spotter.evaluation.protocol import dictionary_form, is_dictionary_word, unquote

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


# --- lexicons ------------------------------------------------------------------------------


def reference_distance(a, b):
    """Levenshtein distance by the textbook dynamic programme, row by row."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, start=1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ca != cb))
    return row[-1]


def reference_nearest(words, query):
    """The first word (lexicon order) at the smallest case-folded distance, and the distance."""
    distances = [reference_distance(query.casefold(), w.casefold()) for w in words]
    best = min(range(len(words)), key=lambda k: (distances[k], k))
    return words[best], distances[best]


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance("same", "same") == 0
    assert edit_distance("Same", "same") == 1  # case-sensitive
    rng = random.Random(3)
    for _ in range(200):
        a, b = ("".join(rng.choices("abc", k=rng.randint(0, 7))) for _ in range(2))
        assert edit_distance(a, b) == reference_distance(a, b)


def test_lexicon_nearest_agrees_with_brute_force():
    rng = random.Random(0)
    words = ["".join(rng.choices("abcde", k=rng.randint(1, 8))) for _ in range(300)]
    lexicon = Lexicon(words)
    for _ in range(40):
        query = "".join(rng.choices("abcdeAB", k=rng.randint(0, 9)))
        best = reference_nearest(lexicon.words, query)
        assert lexicon.nearest(query) == best
        # With a cut-off: the same word when it is that close, else None.
        for cut_off in (0, 1, 2):
            assert lexicon.nearest(query, cut_off) == (best if best[1] <= cut_off else None)
    assert Lexicon([]).nearest("abc") is None
    assert Lexicon(["Hotel", "HOTEL", ""]).words == ["Hotel"]  # case-folded duplicates


def test_lexicon_correction_agrees_with_brute_force():
    # correct_text: the nearest word when d / max(len(text), len(word)) <= the cut-off.
    rng = random.Random(4)
    words = ["".join(rng.choices("abcd", k=rng.randint(1, 9))) for _ in range(200)]
    lexicon = Lexicon(words)
    for _ in range(60):
        text = "".join(rng.choices("abcdx", k=rng.randint(0, 10)))
        word, distance = reference_nearest(lexicon.words, text)
        for cut_off in (0.0, 0.2, 1 / 3, 0.5, 0.75, 0.9, 1.0):
            close = distance <= cut_off * max(len(text), len(word))
            assert correct_text(text, lexicon, cut_off) == (word if close else text)


def test_lexicon_correction_cut_off():
    lexicon = Lexicon(["HOTEL", "PARK"])
    # "H0TEL" -> "HOTEL": distance 1 of length 5, normalised 0.2.
    assert correct_text("H0TEL", lexicon, 0.2) == "HOTEL"
    assert correct_text("H0TEL", lexicon, 0.19) == "H0TEL"
    # "xyz" -> "PARK" (distance 4 = the longer length: normalised 1.0): only the default
    # cut-off (always correct) replaces it.
    assert correct_text("xyz", lexicon) == "PARK"
    assert correct_text("xyz", lexicon, 0.9) == "xyz"
    assert correct_text("hotel", lexicon, 0.0) == "HOTEL"  # case only
    assert correct_text("hotel", None) == "hotel"


def test_generic_lexicon_of_90k_words_is_fast():
    rng = random.Random(1)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 14)))
             for _ in range(90000)]
    lexicon = Lexicon(words)
    target = words[12345]
    assert lexicon.nearest(target[:-1] + "#") [1] <= 1
    assert lexicon.nearest(target.upper()) == (target, 0)


# --- lexicon modes end to end ----------------------------------------------------------------


def record(image_id, polygon, text, file_name=None, text_score=1.0):
    return {"image_id": image_id, "file_name": file_name, "polygon": polygon, "score": 0.9,
            "text": text, "text_score": text_score}


def dataset_dict(image_id, words, lexicon=None):
    """Image whose words (text, ignore) are 10x10 boxes, 20 apart along x."""
    d = {
        "image_id": image_id,
        "file_name": f"/data/img_{image_id}.jpg",
        "annotations": [
            {"segmentation": [rect(20 * k, 0, 20 * k + 10, 10)], "text": t, "ignore": ig}
            for k, (t, ig) in enumerate(words)
        ],
    }
    if lexicon is not None:
        d["lexicon"] = lexicon
    return d


LEXICON_GT = [dataset_dict(1, [("HOTEL", 0), ("PARK", 0)], lexicon=["HOTEL", "PARK", "BANK"])]
LEXICON_PREDS = [record(1, rect(0, 0, 10, 10), "H0TEL"), record(1, rect(20, 0, 30, 10), "PARC")]


def test_lexicon_modes():
    results = evaluate_records(
        LEXICON_GT, LEXICON_PREDS, preset="ic15",
        lexicons={"weak": ["HOTEL", "PARK", "PARC"], "generic": ["MOTEL", "PARK", "HOSTEL"]},
    )
    e2e = results["end_to_end"]
    # none: both readings wrong: P = R = H = 0/2.
    assert_prh(e2e["none"], 0.0, 0.0, 0.0)
    # strong (HOTEL, PARK, BANK): H0TEL -> HOTEL, PARC -> PARK: 2/2.
    assert_prh(e2e["strong"], 1.0, 1.0, 1.0)
    # weak (HOTEL, PARK, PARC): H0TEL -> HOTEL, PARC stays (distance 0): 1/2.
    assert_prh(e2e["weak"], 0.5, 0.5, 0.5)
    # generic (MOTEL, PARK, HOSTEL): H0TEL is 2 from MOTEL and from HOSTEL; the first in the
    # lexicon, MOTEL, wins: wrong; PARC -> PARK: 1/2.
    assert_prh(e2e["generic"], 0.5, 0.5, 0.5)
    # All are dictionary words: word spotting = end to end.
    assert results["word_spotting"] == e2e
    metrics = metrics_in_percent(results)
    assert metrics["e2e_strong_hmean"] == 100.0 and metrics["e2e_hmean"] == 0.0
    assert metrics["ws_weak_hmean"] == 50.0 and metrics["det_hmean"] == 100.0
    table = format_results_table(metrics)
    for column in ("Det-H", "E2E-S", "E2E-W", "E2E-G", "E2E-None", "WS-G"):
        assert column in table


def test_missing_lexicons_are_skipped_with_a_warning(caplog):
    gt = [dataset_dict(1, [("HOTEL", 0), ("PARK", 0)])]  # no per-image lexicon
    with caplog.at_level(logging.WARNING):
        results = evaluate_records(gt, LEXICON_PREDS, preset="ic15")
    assert set(results["end_to_end"]) == {"none"}
    assert set(results["skipped_lexicon_modes"]) == {"strong", "weak", "generic"}
    assert "Lexicon modes not evaluated" in caplog.text


# --- Total-Text: both conventions, full lexicon ---------------------------------------------

TT_GT = [
    dataset_dict(1, [("WORLD", 0), ("ab", 0), ("12", 0)], lexicon=["WORLD", "ab", "12"]),
    dataset_dict(2, [("CAFE", 0), ("###", 1)], lexicon=["CAFE", "HOUSE"]),
]
TT_PREDS = [
    record(1, rect(0, 0, 10, 10), "W0RLD"),
    record(1, rect(20, 0, 30, 10), "ab"),
    record(1, rect(40, 0, 50, 10), "13"),
    record(2, rect(0, 0, 10, 10), "CAFE"),
    record(2, rect(20, 0, 30, 10), "HOUSE"),  # on the don't-care region: dropped
]


def test_totaltext_both_conventions():
    mts = evaluate_records(TT_GT, TT_PREDS, preset="totaltext")
    assert set(mts["end_to_end"]) == {"none", "full"}
    # Mask TextSpotter (rules off): care GT = WORLD, ab, 12, CAFE (4); kept predictions 4.
    # None: TP = ab, CAFE: P = R = H = 2/4.
    assert_prh(mts["end_to_end"]["none"], 0.5, 0.5, 0.5)
    # Full (union of per-image lexicons): W0RLD -> WORLD, 13 -> 12 (distance 1, first):
    # TP = 4: P = R = H = 1.
    assert_prh(mts["end_to_end"]["full"], 1.0, 1.0, 1.0)
    # Word spotting: ab and 12 are don't-care and their predictions dropped: care GT = WORLD,
    # CAFE; kept predictions 2. None: TP = CAFE: 1/2. Full: 2/2.
    assert_prh(mts["word_spotting"]["none"], 0.5, 0.5, 0.5)
    assert_prh(mts["word_spotting"]["full"], 1.0, 1.0, 1.0)
    # AdelaiDet (rules on in end to end too): end to end = word spotting.
    adelai = evaluate_records(TT_GT, TT_PREDS, preset="totaltext", e2e_word_spotting=True)
    assert adelai["end_to_end"] == mts["word_spotting"]


def test_iou_01_criterion_for_mango():
    # One word; the prediction covers 3/10 of it (IoU 0.3) with the right text.
    gt = [dataset_dict(1, [("HOTEL", 0)])]
    preds = [record(1, rect(0, 0, 3, 10), "hotel")]
    assert evaluate_records(gt, preds)["end_to_end"]["none"]["hmean"] == 0.0
    loose = evaluate_records(gt, preds, protocol=Protocol(iou_threshold=0.1))
    assert loose["end_to_end"]["none"]["hmean"] == 1.0


def test_rec_score_threshold_applies_to_end_to_end_only():
    gt = [dataset_dict(1, [("HOTEL", 0)])]
    preds = [record(1, rect(0, 0, 10, 10), "HOTEL", text_score=0.3)]
    results = evaluate_records(gt, preds, rec_score_thresh=0.5)
    assert results["detection"]["num_tp"] == 1
    assert results["end_to_end"]["none"]["num_pred"] == 0


# --- bad input ------------------------------------------------------------------------------


def test_broken_and_unknown_predictions_are_reported_not_fatal(caplog):
    gt = [dataset_dict(1, [("HOTEL", 0)])]
    preds = [
        record(None, rect(0, 0, 10, 10), "HOTEL", file_name="other/dir/img_1.jpg"),  # by name
        record(1, [0, 0, 5, 5], "x"),  # 2 points
        record(1, [0, 0, 5, "a", 3, 3], "x"),  # not numbers
        {"image_id": 1, "box": [0, 0, 4, 4], "text": 7},  # text not a string
        "not a record",
        record(7, rect(0, 0, 10, 10), "x"),  # unknown image
        {"image_id": 1, "box": [30, 0, 40, 10]},  # box only: a valid (false positive) record
    ]
    with caplog.at_level(logging.WARNING):
        results = evaluate_records(gt, preds)
    assert results["num_invalid_predictions"] == 4
    assert results["num_unknown_predictions"] == 1
    assert "4 of 7 prediction records are broken" in caplog.text
    assert "record #1 (image 1)" in caplog.text
    assert "1 images with 1 predictions are not in the ground truth" in caplog.text
    # Scored: the record matched by file name (TP) and the box-only record (FP, text "").
    assert results["detection"]["num_tp"] == 1 and results["detection"]["num_pred"] == 2
    assert_prh(results["end_to_end"]["none"], 0.5, 1.0, 2 / 3)


# --- presets --------------------------------------------------------------------------------


def test_presets():
    assert get_preset("ic13").lexicon_modes == ("none", "strong", "weak", "generic")
    assert get_preset("totaltext").lexicon_modes == ("none", "full")
    assert preset_for_dataset("icdar2015_test").name == "ic15"
    assert preset_for_dataset("totaltext_test").name == "totaltext"
    assert preset_for_dataset("synth_val").name == "plain"
    assert preset_for_dataset("synth_val", "ic13").name == "ic13"
    with pytest.raises(ValueError, match="unknown protocol"):
        get_preset("ic17")
    with pytest.raises(ValueError, match="unknown lexicon mode"):
        get_preset("ic15").with_modes(("strong", "huge"))


@pytest.fixture
def ic15_dataset(tmp_path):
    name = "test_protocols_ic15_like"
    weak = tmp_path / "weak.txt"
    weak.write_text("\ufeffHOTEL\nPARK\nPARC\n", encoding="utf-8")  # with a BOM
    DatasetCatalog.register(name, lambda: LEXICON_GT)
    MetadataCatalog.get(name).set(thing_classes=["text"], evaluator_type="text",
                                  protocol="ic15", lexicons={"weak": str(weak)})
    yield name
    DatasetCatalog.remove(name)
    MetadataCatalog.remove(name)


def test_evaluator_uses_metadata_preset_and_lexicon_files(ic15_dataset, tmp_path):
    from test_text_evaluator import make_instances

    evaluator = TextSpottingEvaluator(ic15_dataset, output_dir=str(tmp_path / "out"),
                                      distributed=False)
    evaluator.process(
        [{"image_id": 1, "file_name": "/data/img_1.jpg"}],
        [{"instances": make_instances(
            40, 60, [r["polygon"] for r in LEXICON_PREDS], ["H0TEL", "PARC"], [0.9, 0.9]),
          "scale": 0.5}],
    )
    results = evaluator.evaluate()
    metrics = results["text_spotting"]
    # As in test_lexicon_modes: strong 100, weak 50; no generic lexicon: not reported.
    assert metrics["e2e_strong_hmean"] == pytest.approx(100.0)
    assert metrics["e2e_weak_hmean"] == pytest.approx(50.0)
    assert "e2e_generic_hmean" not in metrics
    assert results["cost"] == {"scale_0.5_images": 1.0}
    saved = json.loads((tmp_path / "out" / "text_results.json").read_text())
    assert saved["preset"] == "ic15" and saved["skipped_lexicon_modes"].keys() == {"generic"}
    per_image = json.loads((tmp_path / "out" / "text_per_image.json").read_text())
    assert [(im["image_id"], im["scale"]) for im in per_image] == [(1, 0.5)]


# --- command line ---------------------------------------------------------------------------


def write_cli_files(tmp_path):
    gt = {
        "images": [
            {"id": 1, "file_name": "img_1.jpg", "height": 40, "width": 60,
             "lexicon": ["HOTEL", "PARK", "BANK"]},
            {"id": 2, "file_name": "img_2.jpg", "height": 40, "width": 60,
             "lexicon": ["CAFE"]},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10],
             "segmentation": [rect(0, 0, 10, 10)], "text": "HOTEL", "ignore": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 0, 10, 10],
             "segmentation": [rect(20, 0, 30, 10)], "text": "PARK", "ignore": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10],
             "segmentation": [rect(0, 0, 10, 10)], "text": "###", "ignore": 1},
        ],
        "categories": [{"id": 1, "name": "text"}],
    }
    preds = [
        record(None, rect(0, 0, 10, 10), "H0TEL", file_name="/elsewhere/img_1.jpg"),
        record(1, rect(20, 0, 30, 10), "PARC"),
        record(2, rect(0, 0, 10, 10), "CAFE"),  # on don't-care: dropped
        record(3, rect(0, 0, 10, 10), "x"),  # unknown image
        record(1, [1, 2], "x"),  # broken
    ]
    generic = tmp_path / "generic.txt"
    generic.write_text("MOTEL\nPARK\nHOSTEL\n", encoding="utf-8")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "pred.json").write_text(json.dumps(preds))
    return str(tmp_path / "gt.json"), str(tmp_path / "pred.json"), str(generic)


def test_cli(tmp_path, capsys):
    gt, pred, generic = write_cli_files(tmp_path)
    out_dir = tmp_path / "out"
    code = main(["--gt", gt, "--pred", pred, "--protocol", "ic15", "--generic-lexicon", generic,
                 "--output-dir", str(out_dir)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    metrics = summary["metrics"]
    # As in test_lexicon_modes; no weak lexicon given: skipped.
    assert metrics["e2e_hmean"] == 0.0
    assert metrics["e2e_strong_hmean"] == 100.0
    assert metrics["e2e_generic_hmean"] == 50.0
    assert "e2e_weak_hmean" not in metrics and "weak" in summary["skipped_lexicon_modes"]
    assert summary["num_unknown_predictions"] == 1 and summary["num_invalid_predictions"] == 1
    assert summary["preset"] == "ic15" and summary["protocol"]["iou_threshold"] == 0.5
    assert summary["protocol"]["matching"] == "official"
    per_image = json.loads((out_dir / "text_per_image.json").read_text())
    assert per_image[0]["details"]["end_to_end"]["strong"]["matches"][0]["pred_text"] == "HOTEL"
    assert per_image[1]["details"]["detection"]["dropped"] == [0]

    # One lexicon mode, IoU 0.1.
    assert main(["--gt", gt, "--pred", pred, "--protocol", "ic15", "--lexicon", "strong",
                 "--iou", "0.1", "--matching", "best"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lexicon_modes"] == ["strong"] and summary["protocol"]["iou_threshold"] == 0.1
    assert summary["protocol"]["matching"] == "best"
    assert "e2e_hmean" not in summary["metrics"] and "ws_strong_hmean" in summary["metrics"]

    assert main(["--gt", str(tmp_path / "missing.json"), "--pred", pred]) == 2
    assert "missing.json does not exist" in capsys.readouterr().err


def test_cli_as_a_module(tmp_path):
    gt, pred, _ = write_cli_files(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "dld_spotter.evaluation", "--gt", gt, "--pred", pred,
         "--protocol", "totaltext"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # Full lexicon = union of per-image lexicons: H0TEL -> HOTEL, PARC -> PARK.
    assert summary["metrics"]["e2e_full_hmean"] == 100.0
    assert summary["e2e_convention"].startswith("Mask TextSpotter")
    assert "prediction records are broken" in result.stderr


def test_cli_and_evaluator_read_the_ground_truth_as_the_loader(tmp_path, capsys):
    """One reader: a word annotated in two parts is one ground truth (scored as their union),
    "###" and empty texts are don't-care, in the loader, the evaluator and the CLI alike."""
    from test_text_evaluator import make_instances

    exit_parts = [rect(0, 0, 10, 10), rect(12, 0, 22, 10)]  # one word behind a pole
    gt = {
        "images": [{"id": 1, "file_name": "img_1.jpg", "height": 40, "width": 60}],
        "annotations": [
            {"id": 1, "image_id": 1, "segmentation": exit_parts, "text": "EXIT", "ignore": 0},
            {"id": 2, "image_id": 1, "segmentation": [rect(30, 0, 40, 10)], "text": "###",
             "ignore": 0},
            {"id": 3, "image_id": 1, "segmentation": [rect(45, 0, 55, 10)], "text": "",
             "ignore": 0},
            {"id": 4, "image_id": 1, "segmentation": [rect(0, 20, 20, 30)], "text": "SALE",
             "ignore": 0},
        ],
    }
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps(gt))
    cv2.imwrite(str(tmp_path / "img_1.jpg"), np.zeros((40, 60, 3), np.uint8))
    dicts = load_text_json(str(gt_file), str(tmp_path))
    assert dicts[0]["annotations"][0]["segmentation"] == exit_parts
    assert [(a["text"], a["ignore"]) for a in dicts[0]["annotations"]] == [
        ("EXIT", 0), ("###", 1), ("###", 1), ("SALE", 0)]

    name = "test_protocols_one_reader"
    register_text_dataset(name, str(gt_file), str(tmp_path))
    try:
        evaluator = TextSpottingEvaluator(name, output_dir=str(tmp_path / "evaluator"),
                                          distributed=False)
        boxes = [rect(0, 0, 22, 10), rect(30, 0, 40, 10), rect(45, 0, 55, 10), rect(0, 20, 20, 30)]
        evaluator.process([{"image_id": 1, "file_name": str(tmp_path / "img_1.jpg")}],
                          [{"instances": make_instances(40, 60, boxes, ["EXIT", "x", "y", "SALE"],
                                                        [0.9] * 4)}])
        metrics = evaluator.evaluate()["text_spotting"]
    finally:
        DatasetCatalog.remove(name)
        MetadataCatalog.remove(name)
    # EXIT's box covers both parts (IoU 200 / 220 with their union, 100 / 220 with the first);
    # the boxes on the two don't-care regions are dropped.
    assert metrics["det_hmean"] == metrics["e2e_hmean"] == pytest.approx(100.0)

    evaluated = tmp_path / "evaluator"
    assert main(["--gt", str(gt_file), "--pred", str(evaluated / "text_predictions.json"),
                 "--output-dir", str(tmp_path / "cli")]) == 0
    assert json.loads(capsys.readouterr().out)["metrics"] == metrics
    ours, theirs = (json.loads((tmp_path / d / "text_results.json").read_text())
                    for d in ("evaluator", "cli"))
    assert ours["images"][0]["detection"] == theirs["images"][0]["detection"] == {
        "num_gt_care": 2, "num_gt_dont_care": 2, "num_pred": 2, "num_pred_dropped": 2,
        "num_tp": 2}
    ours, theirs = (json.loads((tmp_path / d / "text_per_image.json").read_text())
                    for d in ("evaluator", "cli"))
    assert ours[0]["details"] == theirs[0]["details"]
