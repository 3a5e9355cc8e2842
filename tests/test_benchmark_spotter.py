"""The base-spotter speed benchmark: one measurement of the tiny config, and its table."""
import os

from testing import REPO, load_tool

bench = load_tool("benchmark_spotter")


def test_measures_the_tiny_config_and_tabulates_it(tmp_path):
    data = bench.make_data(str(tmp_path))
    config = os.path.join(REPO, "configs", "synth", "teacher_tiny.yaml")
    row = bench.measure(config, data, train_iters=1, infer_images=1, batch=1, warmup=0)
    assert row["device"] == "cpu" and row["resolution"] == "S-480" and row["batch"] == 1
    assert 2.0 < row["params_M"] < 4.0  # the tiny spotter has about 3 M parameters
    for key in ("train_it_per_s", "train_img_per_s", "infer_img_per_s", "peak_mem_GiB"):
        assert row[key] > 0, key
    lines = bench.to_markdown([row]).splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert len(lines) == 3 and len(header) == len(cells)
    assert dict(zip(header, cells))["device"] == "cpu"
    assert float(dict(zip(header, cells))["train it/s"]) == round(row["train_it_per_s"], 3)
