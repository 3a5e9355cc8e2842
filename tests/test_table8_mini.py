"""tools/table8_mini.py and tools/skd_gain.py: the rows they run and what they report."""
import math
import os

from testing import REPO, load_tool

from dld_spotter.config import load_config

table8 = load_tool("table8_mini")
skd = load_tool("skd_gain")


def test_both_spotters_get_vanilla_rows_at_each_size_and_the_same_dld_configs():
    rows = {}
    for spotter, (config, _) in table8.SPOTTERS.items():
        runs = table8.spotter_runs(config, ["MODEL.DLD.DRS.FLOPS_WEIGHT", "{gamma}"])
        vanilla = [r for r in runs if r.name.startswith("Vanilla")]
        test_size = load_config(os.path.join(REPO, config)).INPUT.MIN_SIZE_TEST
        assert [round(r.test_scale * test_size) for r in vanilla] == list(table8.SIZES)
        assert not any(r.train for r in vanilla)
        rows[spotter] = {r.name: r for r in runs if r.name.startswith("DLD")}
    assert rows["Mask R-CNN"].keys() == rows["Segmentation"].keys() == {"DLD γ=0.1", "DLD γ=0.3"}
    for name in ("DLD γ=0.1", "DLD γ=0.3"):
        mask, seg = rows["Mask R-CNN"][name], rows["Segmentation"][name]
        assert mask.config == seg.config  # one DLD config wraps either spotter ...
        assert mask.opts[:2] == ["MODEL.DLD.BASE_ARCHITECTURE", "TextSpotter"]
        assert seg.opts[:2] == ["MODEL.DLD.BASE_ARCHITECTURE", "SegTextSpotter"]  # ... one key
        assert mask.opts[2:] == seg.opts[2:] == ["MODEL.DLD.DRS.FLOPS_WEIGHT", name[-3:]]


def test_degradation_is_what_the_smallest_vanilla_row_lost():
    rows = {f"Vanilla S-{s}": {"det_hmean": 90.0 - (480 - s) / 16, "e2e_hmean": math.nan}
            for s in table8.SIZES}
    assert table8.degradation(rows, "det_hmean") == 20.0


def test_skd_gain_students_differ_only_in_what_they_learn_from():
    runs = {r.name: r for r in skd.skd_runs("configs/synth/teacher_tiny.yaml", halves=True)}
    students = [r for r in runs.values() if r.student]
    assert len(students) == 4 and all(r.train for r in students)
    assert len(skd.skd_runs("configs/synth/teacher_tiny.yaml")) == 4  # H, L and two students
    control = load_config(os.path.join(REPO, runs["Vanilla L (trained)"].config))
    skd_only = load_config(os.path.join(REPO, runs["SKD-only"].config))
    assert control.MODEL.DLD.FIXED_SCALE == skd_only.MODEL.DLD.FIXED_SCALE == 0.5
    assert tuple(control.MODEL.DLD.DISTILLERS) == () and "SKD" in skd_only.MODEL.DLD.DISTILLERS
    differ = {k for k in ("SOLVER", "INPUT", "DATASETS")
              if control.get(k) != skd_only.get(k)}
    assert differ == set()
    assert runs["L"].test_scale == 0.5 and not runs["L"].train
