"""The threshold tuning tool (tools/tune_thresholds.py): the records it keeps at each setting
match the model's own post-processing, and its metrics a hand-worked case."""
from testing import load_tool, rect

GT = [{"image_id": 1, "file_name": "/data/a.jpg",
       "annotations": [{"segmentation": [rect(0, 0, 100, 20)], "text": "hello", "ignore": 0}]}]


def record(box, text, score, text_score):
    return {"image_id": 1, "file_name": "/data/a.jpg", "polygon": rect(*box), "box": box,
            "score": score, "text": text, "text_score": text_score}


PREDS = [record([0, 0, 100, 20], "hello", 0.9, 0.95),   # the word, read
         record([10, 2, 40, 18], "he", 0.85, 0.9),       # a fragment inside it
         record([200, 200, 260, 220], "xx", 0.6, 0.3)]   # a false positive, unsure reading


def test_apply_thresholds_keeps_the_models_records_in_order():
    tune = load_tool("tune_thresholds")
    assert tune.apply_thresholds(PREDS, 0.5, 1.0) == PREDS
    assert tune.apply_thresholds(PREDS, 0.5, 0.8) == [PREDS[0], PREDS[2]]
    assert tune.apply_thresholds(PREDS, 0.7, 0.8) == [PREDS[0]]
    assert tune.apply_thresholds(PREDS, 0.95, 0.8) == []
    # Confirmation drops the unsure reading, after containment (the fragment still goes).
    assert tune.apply_thresholds(PREDS, 0.5, 0.8, 0.5) == [PREDS[0]]
    assert tune.apply_thresholds(PREDS, 0.5, 1.0, 0.92) == [PREDS[0]]


def test_sweep_metrics_by_hand():
    tune = load_tool("tune_thresholds")
    rows = tune.sweep(GT, PREDS, [0.5, 0.7], [1.0, 0.8], [0.0, 0.5])
    got = {(r["score"], r["containment"], r["rec_score"]): (round(r["det_hmean"], 1),
                                                              round(r["e2e_hmean"], 1))
           for r in rows}
    assert got[(0.5, 1.0, 0.0)] == (50.0, 50.0)    # 1 of 3 right, the word found
    assert got[(0.5, 0.8, 0.0)] == (66.7, 66.7)    # the fragment gone
    assert got[(0.5, 0.8, 0.5)] == (66.7, 100.0)   # the unsure reading leaves end to end only
    assert got[(0.7, 0.8, 0.0)] == (100.0, 100.0)
    assert len(rows) == 8
    confirmed = tune.sweep(GT, PREDS, [0.5], [1.0], [0.0], [0.0, 0.5])
    assert [(r["confirm"], round(r["det_hmean"], 1)) for r in confirmed] == [(0.0, 50.0),
                                                                            (0.5, 66.7)]


def test_sweep_scores_the_lexicon_modes_under_each_rule():
    tune = load_tool("tune_thresholds")
    gt = [{**GT[0], "lexicon": ["HELLO", "WORLD"]}]
    preds = [record([0, 0, 100, 20], "hallo", 0.9, 0.6),        # the word, misread
             record([200, 200, 260, 220], "qqqqq", 0.8, 0.9)]   # clutter, read confidently
    rules = [tune.LexiconRules(1.0), tune.LexiconRules(0.5, True),
             tune.LexiconRules(0.5, True, rec_score_thresh=0.7)]
    rows = tune.sweep(gt, preds, [0.5], [1.0], [0.0], lexicons={}, lexicon_rules=rules)
    strong = [round(r["e2e_strong_hmean"], 1) for r in rows]
    # Always corrected: hallo -> HELLO right, qqqqq -> a wrong word: P 1/2, R 1/1. Dropped
    # beyond 0.5: qqqqq is left out: 100. With its own threshold 0.7 the lexicon mode loses
    # the word (0.6).
    assert strong == [66.7, 100.0, 0.0]
    assert [r["e2e_hmean"] for r in rows] == [0.0] * 3  # lexicon-free: hallo is wrong
    assert [r["max_distance"] for r in rows] == [1.0, 0.5, 0.5]
    best = sorted(rows, key=tune.sort_key("strong"))[0]
    assert best["max_distance"] == 0.5 and best["lexicon_rec_score"] is None
