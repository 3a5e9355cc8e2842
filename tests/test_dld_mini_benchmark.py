"""The miniature benchmark's bookkeeping: run folders, time per iteration, the targets."""
import argparse
import json
import math
import os

import pytest
from testing import REPO, load_tool

bench = load_tool("dld_mini_benchmark")


def row(e2e, gflops, s_per_iter=math.nan, fps=1.0, small=math.nan, large=math.nan):
    return {"e2e_hmean": e2e, "gflops": gflops, "s_per_iter": s_per_iter, "fps": fps,
            "small_text_scale": small, "large_text_scale": large}


DIST = {"Vanilla multi-scale (H)": {"roi_l2": 0.6, "con_l2": 0.7},
        "SKD-only": {"roi_l2": 0.4, "con_l2": 0.65}}


def test_targets_are_judged_on_the_numbers():
    rows = {"H": row(60.0, 2.0, fps=5.0), "L": row(54.0, 0.5), "SKD-only": row(55.0, 0.6, 1.0),
            "DLD γ=0.1": row(59.5, 1.12, 1.4, fps=8.0, small=0.9, large=0.6),
            "DLD γ=0.3": row(56.0, 0.66, 1.2)}
    met = [m for _, m, _ in bench.check_targets(rows, DIST)]
    # 1.12 GFLOPs is 56 % of H's: just over; 8 images/s is 1.6x H's
    assert met == [True, False, True, True, True, True, True]
    rows["DLD γ=0.1"] = row(58.9, 1.0, 1.6, fps=7.9, small=0.6, large=0.6)
    dist = {**DIST, "SKD-only": {"roi_l2": 0.4, "con_l2": 0.71}}
    met = [m for _, m, _ in bench.check_targets(rows, dist)]
    # 1.1 points below H; 1.58x H's images/s; the same scale for small and large text;
    # contextual features further than Vanilla L's; 1.6x SKD-only's time
    assert met == [True, False, True, False, False, False, False]


def test_accuracy_targets_are_not_judged_when_the_teacher_does_not_read():
    rows = {"H": row(0.0, 2.0), "L": row(0.0, 0.5), "SKD-only": row(0.0, 0.6, 1.0),
            "DLD γ=0.1": row(0.0, 1.0, 1.4, fps=2.0), "DLD γ=0.3": row(0.0, 0.6, 1.2)}
    targets = bench.check_targets(rows, DIST)
    assert [m for _, m, _ in targets] == [None, None, None, True, False, True, True]
    lines = [bench.target_line(*t) for t in targets]
    assert all("not judged" in line and line.startswith("- [ ]") for line in lines[:3])
    assert lines[3].startswith("- [x]") and "not judged" not in lines[3]


def test_scale_by_text_size_ranks_images_by_word_height(tmp_path):
    from detectron2.data import DatasetCatalog

    def image(i, height):  # one straight word, 4 x height wide
        poly = [0, 0, 4 * height, 0, 4 * height, height, 0, height]
        return {"image_id": i, "annotations": [
            {"segmentation": [poly], "ignore": 0},
            {"segmentation": [[0, 0, 500, 0, 500, 500, 0, 500]], "ignore": 1}]}

    heights = {1: 10, 2: 60, 3: 20, 4: 30, 5: 50, 6: 40, 7: 12, 8: 70, 9: 25, 10: 45}
    scales = {1: 1.0, 2: 0.5, 3: 0.8, 4: 0.8, 5: 0.5, 6: 0.5, 7: 1.0, 8: 0.3, 9: 0.8, 10: 0.8}
    DatasetCatalog.register("bench_sizes", lambda: [image(i, h) for i, h in heights.items()])
    try:
        with open(tmp_path / "text_per_image.json", "w") as f:
            json.dump([{"image_id": i, "scale": s} for i, s in scales.items()], f)
        got = bench.scale_by_text_size(str(tmp_path), "bench_sizes")
    finally:
        DatasetCatalog.remove("bench_sizes")
    # smallest three: 10, 12, 20 px (images 1, 7, 3); largest: 50, 60, 70 (5, 2, 8)
    assert got["images_per_group"] == 3
    assert got["small_text_scale"] == pytest.approx((1.0 + 1.0 + 0.8) / 3)
    assert got["large_text_scale"] == pytest.approx((0.5 + 0.5 + 0.3) / 3)
    assert got["small_text_height"] == pytest.approx(12) and got["large_text_height"] == 60


def test_seconds_per_iteration_skips_warm_up(tmp_path):
    with open(tmp_path / "metrics.json", "w") as f:
        for it, t in [(9, 50.0), (19, 2.0), (39, 1.0), (59, 3.0), (79, 2.5)]:
            f.write(json.dumps({"iteration": it, "time": t}) + "\n")
        f.write(json.dumps({"iteration": 79, "synth_val/e2e_hmean": 1.0}) + "\n")
    assert bench.seconds_per_iteration(str(tmp_path)) == pytest.approx(2.5)


def test_every_paper_row_has_a_config_and_its_own_folder():
    runs = bench.benchmark_runs("configs/synth/teacher_tiny.yaml")
    names = [r.name for r in runs]
    assert names == ["H", "L", "SKD-only", "DRS-only γ=0.1", "DRS-only γ=0.3", "DLD γ=0.1",
                     "DLD γ=0.3"]
    assert len({bench.folder_name(n) for n in names}) == len(names)
    assert all(os.path.isfile(os.path.join(REPO, r.config)) for r in runs)
    assert [r.test_scale for r in runs if not r.train] == [0.5]
    assert not bench.benchmark_runs("x.yaml", train_teacher=False)[0].train


def test_selector_options_reach_exactly_the_rows_with_a_selector(monkeypatch):
    from dld_spotter.config import load_config

    monkeypatch.chdir(REPO)
    start = ["MODEL.DLD.DRS.THUMBNAIL_SIZE", "160", "MODEL.DLD.DRS.NORM", "BN"]
    runs = bench.benchmark_runs("configs/synth/teacher_tiny.yaml", selector_opts=start)
    for run in runs:
        cfg = load_config(run.config, run.opts)
        has_selector = cfg.MODEL.META_ARCHITECTURE == "DLDSpotter" and not cfg.MODEL.DLD.FIXED_SCALE
        assert has_selector == run.name.startswith(("DRS", "DLD"))
        assert (cfg.MODEL.DLD.DRS.THUMBNAIL_SIZE == 160) == has_selector, run.name
    assert load_config(runs[4].config, runs[4].opts).MODEL.DLD.DRS.FLOPS_WEIGHT == 0.3


def test_selector_options_take_each_rows_gamma(monkeypatch):
    """``{gamma}`` in --selector-opts: each row with a selector starts from its gamma's file."""
    from dld_spotter.config import load_config

    monkeypatch.chdir(REPO)
    start = ["MODEL.DLD.DRS.WEIGHTS", "selector_{gamma}.pth"]
    for run in bench.benchmark_runs("configs/synth/teacher_tiny.yaml", selector_opts=start):
        drs = load_config(run.config, run.opts).MODEL.DLD.DRS
        expected = f"selector_{drs.FLOPS_WEIGHT}.pth" if run.name[:3] in ("DRS", "DLD") else ""
        assert drs.WEIGHTS == expected, run.name


@pytest.mark.parametrize("iters, opts, expected", [
    (150, [], 12),  # 150 iterations x 4 images / 50 epochs
    (150, ["SOLVER.IMS_PER_BATCH", "16"], 48),
    (10, [], 1),  # at least one image an epoch
])
def test_students_fit_the_papers_50_temperature_epochs(iters, opts, expected, monkeypatch):
    monkeypatch.chdir(REPO)
    args = argparse.Namespace(student_iters=iters, opts=opts)
    runs = {r.name: r for r in bench.benchmark_runs("configs/synth/teacher_tiny.yaml")}
    epoch_images = bench.temperature_epoch_images(runs["DLD γ=0.1"], args)
    assert epoch_images == expected
    assert epoch_images * bench.PAPER_EPOCHS <= max(iters * (16 if opts else 4), 50)


def record_children(monkeypatch) -> list[list[str]]:
    """Replace ``run_child`` by one that records its arguments and writes a run record; the
    list of the recorded arguments."""
    calls = []

    def child(args, out_dir, record):
        calls.append(args)
        os.makedirs(out_dir, exist_ok=True)
        with open(record, "w") as f:
            json.dump({"wall_s": 1.0, "peak_memory_gib": 1.0, "memory": "cpu_rss"}, f)

    monkeypatch.setattr(bench, "run_child", child)
    return calls


def test_trained_rows_are_evaluated_again_in_a_fresh_process_once(monkeypatch, tmp_path):
    """A trained row: a training child, then an --eval-only child of its final weights (whose
    cost the table reports, as for the evaluation-only rows); nothing re-runs once recorded."""
    calls = record_children(monkeypatch)
    monkeypatch.setattr(bench, "seconds_per_iteration", lambda out_dir: 1.0)
    monkeypatch.setattr(bench, "scale_by_text_size", lambda eval_dir, dataset: {})
    monkeypatch.setattr("dld_spotter.evaluation.compare.load_run",
                        lambda eval_dir: {"e2e_hmean": 1.0, "det_hmean": 1.0, "gflops": 1.0})
    monkeypatch.chdir(REPO)
    args = argparse.Namespace(student_iters=10, opts=["SEED", "4"],
                              teacher_config="configs/synth/teacher_tiny.yaml")
    runs = {r.name: r for r in bench.benchmark_runs("configs/synth/teacher_tiny.yaml")}
    for _ in range(2):
        bench.execute(runs["DLD γ=0.1"], args, str(tmp_path), "t.pth", (480, 800))
        bench.execute(runs["L"], args, str(tmp_path), "t.pth", (480, 800))
    train, fresh, only = calls
    assert "--resume" in train and "--eval-only" in fresh and "--eval-only" in only
    final = os.path.join(str(tmp_path), "DLD_gamma0.1", "model_final.pth")
    assert fresh[-2:] == ["MODEL.WEIGHTS", final] and fresh[-4:-2] == ["SEED", "4"]


def test_a_rows_own_options_win_over_opts_and_it_is_scored_on_its_first_test_set(
        monkeypatch, tmp_path):
    """--opts that set the test size and set (real photographs, say) leave L at half of it, and
    the row is read from the inference folder of the first of DATASETS.TEST."""
    calls, scored = record_children(monkeypatch), []
    monkeypatch.setattr(bench, "scale_by_text_size", lambda eval_dir, dataset: {})
    monkeypatch.setattr("dld_spotter.evaluation.compare.load_run", lambda eval_dir: scored.append(
        eval_dir) or {"e2e_hmean": 1.0, "det_hmean": 1.0, "gflops": 1.0})
    monkeypatch.chdir(REPO)
    args = argparse.Namespace(student_iters=10, teacher_config="configs/synth/teacher_tiny.yaml",
                              opts=["INPUT.MIN_SIZE_TEST", "720", "DATASETS.TEST",
                                    "('ic15_train_heldout',)"])
    runs = {r.name: r for r in bench.benchmark_runs("configs/synth/teacher_tiny.yaml")}
    bench.execute(runs["L"], args, str(tmp_path), "t.pth", (720, 1290))
    (only,) = calls
    last = max(i for i, o in enumerate(only) if o == "INPUT.MIN_SIZE_TEST")
    assert only[last + 1] == "360"
    assert scored == [os.path.join(str(tmp_path), "L", "inference", "ic15_train_heldout")]
