"""The held-out curve tool (tools/heldout_curve.py): the points it reads from a run."""
import json

from testing import load_tool


def test_heldout_curve_reads_a_runs_evaluations(tmp_path):
    curve = load_tool("heldout_curve")
    (tmp_path / "config.yaml").write_text("SOLVER:\n  IMS_PER_BATCH: 64\n")
    rows = [{"iteration": 98, "total_loss": 2.5}, {"iteration": 99, "total_loss": 2.4},
            {"iteration": 99, "heldout_crops/word_accuracy": 12.5},
            {"iteration": 199, "total_loss": 1.0, "heldout_crops/word_accuracy": 50.0}]
    (tmp_path / "metrics.json").write_text("\n".join(json.dumps(r) for r in rows))
    points = curve.heldout_points(str(tmp_path))
    assert [(p["crops"], p["accuracy"], p["loss"]) for p in points] == [
        (6400, 12.5, 2.4), (12800, 50.0, 1.0)]
