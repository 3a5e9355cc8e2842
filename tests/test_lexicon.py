"""Lexicons (dld_spotter.evaluation.lexicon): edit distance, the nearest word and the
correction, against a brute-force search."""
import random
import string

from dld_spotter.data import sample_lexicons, vocabulary_word
from dld_spotter.evaluation import Lexicon, LexiconRules, correct_text, edit_distance


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


def test_lexicon_rules_keep_or_drop_an_unmatched_reading():
    lexicon = Lexicon(["HOTEL", "PARK"])
    keep, drop = LexiconRules(0.2), LexiconRules(0.2, drop_unmatched=True)
    for rules in (keep, drop):
        assert rules.read("H0TEL", lexicon) == "HOTEL"  # normalised distance 0.2
        assert rules.read("xyz", None) == "xyz"  # lexicon-free: as read
    assert keep.read("H0TE", lexicon) == "H0TE"  # 2 / 5 = 0.4 > 0.2: scored as read
    assert drop.read("H0TE", lexicon) is None  # ... or left out
    assert drop.read("anything", Lexicon([])) is None  # nothing is allowed
    assert LexiconRules(drop_unmatched=True).read("xyz", lexicon) == "PARK"  # 1.0: always


def test_generic_lexicon_of_90k_words_is_fast():
    rng = random.Random(1)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 14)))
             for _ in range(90000)]
    lexicon = Lexicon(words)
    target = words[12345]
    assert lexicon.nearest(target[:-1] + "#") [1] <= 1
    assert lexicon.nearest(target.upper()) == (target, 0)


def test_vocabulary_words_follow_the_ic15_release():
    assert vocabulary_word("need!") == "NEED"  # surrounding punctuation stripped, upper case
    assert vocabulary_word("Li-Ning") == "LI-NING"  # inner hyphen kept
    assert vocabulary_word("Marché") == "MARCHÉ"
    for left_out in ("154", "441B", "LEVEL2", "at", "ST.MARC", "$20", "###"):
        assert vocabulary_word(left_out) is None, left_out


def _image(image_id, words):
    return {"image_id": image_id, "annotations": [
        {"text": t, "ignore": t == "###"} for t in words]}


def test_sampled_lexicons_hold_each_images_words_and_distractors():
    images = [_image(1, ["Hotel", "PARK!", "###", "42"]), _image(2, ["Bank", "hotel"])]
    pool = [_image(10 + k, [f"word{c}" for c in "ABCDEFGHIJ"[k:k + 4]]
                   + ["Hotel", "Cafe"]) for k in range(6)]
    strong, weak = sample_lexicons(images, pool, strong_size=5, weak_size=8, seed=1)
    # Weak: the set's own words first, then pool words (not repeated) up to 8.
    assert weak[:3] == ["HOTEL", "PARK", "BANK"] and len(weak) == len(set(weak)) == 8
    assert set(weak[3:]) <= {"CAFE"} | {f"WORD{c}" for c in "ABCDEFGHIJ"}
    # Strong: each image's vocabulary words and distractors from the weak lexicon, 5 in all.
    assert {"HOTEL", "PARK"} <= set(strong[0]) and {"BANK", "HOTEL"} <= set(strong[1])
    assert all(len(s) == len(set(s)) == 5 and set(s) <= set(weak) for s in strong)
    assert strong[0] != strong[1]
    # Reproducible by seed; a small pool gives what it has.
    assert sample_lexicons(images, pool, 5, 8, seed=1) == (strong, weak)
    assert len(sample_lexicons(images, pool[:1], 5, 100)[1]) == 3 + 5
