"""Side-by-side comparison of finished evaluations (dld_spotter.evaluation.compare)."""
import json
import math
import os

import pytest

from dld_spotter.evaluation.compare import comparison_table, load_run, main, scale_table


def write_run(folder, e2e, histogram=None, gflops=None):
    os.makedirs(folder, exist_ok=True)
    metrics = {"det_hmean": 90.0, "e2e_hmean": e2e, "ws_hmean": e2e + 1}
    with open(os.path.join(folder, "text_results.json"), "w") as f:
        json.dump({"metrics": metrics, "scale_histogram": histogram or {}}, f)
    if gflops is not None:
        with open(os.path.join(folder, "model_metrics.json"), "w") as f:
            json.dump({"cost": {"gflops": gflops, "fps": 10.0},
                       "recognition": {"rec_accuracy": 50.0}}, f)
    return str(folder)


def test_runs_load_and_line_up(tmp_path, capsys):
    teacher = write_run(tmp_path / "t", 60.0, gflops=2.0)
    student = write_run(tmp_path / "s", 58.5, gflops=1.0,
                        histogram={"scale_0.5_images": 3.0, "scale_0.8_images": 1.0})
    rows = {"teacher": load_run(teacher), "student": load_run(student)}
    assert rows["student"]["scales"] == {0.5: 75.0, 0.8: 25.0}
    assert rows["student"]["mean_scale"] == pytest.approx(0.575)
    assert rows["teacher"]["scales"] == {} and math.isnan(rows["teacher"]["mean_scale"])
    table = comparison_table(rows).splitlines()
    assert table[2].startswith("| teacher | 90.0 | 60.0 | 61.0 | 50.0 | 2.00 | 10.00 | – |")
    assert table[3].startswith("| student | 90.0 | 58.5 | 59.5 | 50.0 | 1.00 | 10.00 | 0.57")
    assert scale_table(rows).splitlines()[2:] == ["| 0.5 | 75.0% |", "| 0.8 | 25.0% |"]
    main([f"teacher={teacher}", f"student={student}"])
    assert "Chosen input scale" in capsys.readouterr().out


def test_missing_evaluation_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="text_results.json.*--eval-only"):
        load_run(str(tmp_path))
