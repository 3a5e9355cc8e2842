"""The miniature benchmark's bookkeeping: run folders, time per iteration, the targets."""
import json
import math
import os

import pytest
from tool_modules import REPO, load_tool

bench = load_tool("dld_mini_benchmark")


def row(e2e, gflops, s_per_iter=math.nan):
    return {"e2e_hmean": e2e, "gflops": gflops, "s_per_iter": s_per_iter}


def test_targets_are_judged_on_the_numbers():
    rows = {"H": row(60.0, 2.0), "L": row(54.0, 0.5), "SKD-only": row(55.0, 0.6, 1.0),
            "DLD γ=0.1": row(59.5, 1.12, 1.4), "DLD γ=0.3": row(56.0, 0.66, 1.2)}
    met = [m for _, m, _ in bench.check_targets(rows)]
    assert met == [True, False, True, True]  # 1.12 GFLOPs is 56 % of H's: just over
    rows["DLD γ=0.1"] = row(58.9, 1.0, 1.6)
    met = [m for _, m, _ in bench.check_targets(rows)]
    assert met == [True, False, True, False]  # 1.1 points below H; 1.6x SKD-only's time


def test_accuracy_targets_are_not_judged_when_the_teacher_does_not_read():
    rows = {"H": row(0.0, 2.0), "L": row(0.0, 0.5), "SKD-only": row(0.0, 0.6, 1.0),
            "DLD γ=0.1": row(0.0, 1.0, 1.4), "DLD γ=0.3": row(0.0, 0.6, 1.2)}
    targets = bench.check_targets(rows)
    assert [m for _, m, _ in targets] == [None, None, None, True]
    lines = [bench.target_line(*t) for t in targets]
    assert all("not judged" in line and line.startswith("- [ ]") for line in lines[:3])
    assert lines[3].startswith("- [x]") and "not judged" not in lines[3]


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
