"""scripts/_stage.sh: the main job's stages, one terminal line each, their output in a log."""
import os
import re
import subprocess

from testing import REPO

STAGE_SH = os.path.join(REPO, "scripts", "_stage.sh")


def bash(script: str, cwd, **env) -> subprocess.CompletedProcess:
    """``script`` in bash with scripts/_stage.sh sourced, under the main job's shell options."""
    return subprocess.run(["bash", "-c", f"set -euo pipefail; source {STAGE_SH}; {script}"],
                          capture_output=True, text=True, cwd=cwd, timeout=60,
                          env=dict(os.environ, **env))


def test_a_stage_prints_one_line_and_keeps_its_output_in_the_log(tmp_path):
    result = bash("stage '[1/2] count' out/run.log 'echo three lines' "
                  "bash -c 'echo one; echo two >&2; echo three'; echo next", tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert re.fullmatch(r"\[1/2\] count: done in \d+ s; three lines", first) and second == "next"
    assert (tmp_path / "out/run.log").read_text().split() == ["one", "two", "three"]


def test_a_failing_stage_shows_its_log_tail_and_stops_the_job(tmp_path):
    result = bash("stage '[1/2] fails' run.log '' bash -c "
                  "'for i in $(seq 60); do echo line $i; done; echo boom >&2; exit 3'; "
                  "echo never", tmp_path)
    assert result.returncode == 3
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"\[1/2\] fails: FAILED \(exit status 3\) after \d+ s; the last lines "
                        r"of run.log:", lines[0])
    assert lines[1:] == [f"    line {i}" for i in range(22, 61)] + ["    boom"]
    assert "never" not in result.stdout
    assert len((tmp_path / "run.log").read_text().splitlines()) == 61


def test_verbose_shows_the_whole_output(tmp_path):
    result = bash("stage '[1/1] talk' run.log '' bash -c 'echo one; echo two'", tmp_path,
                  VERBOSE="1")
    lines = result.stdout.splitlines()
    assert lines[:3] == ["[1/1] talk -> run.log", "one", "two"] and len(lines) == 4
    assert re.fullmatch(r"\[1/1\] talk: done in \d+ s", lines[3])
    assert (tmp_path / "run.log").read_text().split() == ["one", "two"]
    failed = bash("stage '[1/1] fails' run.log '' bash -c 'exit 4'", tmp_path, VERBOSE="1")
    assert failed.returncode == 4 and "FAILED (exit status 4)" in failed.stdout


def test_progress_of_training_evaluation_and_progress_bars(tmp_path):
    log = tmp_path / "train.log"
    (tmp_path / "config.yaml").write_text("SOLVER:\n  BASE_LR: 0.001\n  MAX_ITER: 150\n")
    log.write_text("[12/07 10:00:00 d2.utils.events]:  eta: 0:01:02  iter: 19  total_loss: 3.1\n"
                   "[12/07 10:00:26 d2.utils.events]:  eta: 0:00:41  iter: 39  total_loss: 2.9\n")
    progress = bash(f"_stage_progress {log}", tmp_path).stdout.strip()
    assert progress == "iteration 40/150, ETA 0:00:41"
    with open(log, "a") as f:
        f.write("[12/07 10:01:00 d2.evaluation.evaluator]: Inference done 11/100. Dataloading: "
                "0.0006 s/iter. Inference: 0.0871 s/iter. Total: 0.0884 s/iter. ETA=0:00:07\n")
    assert bash(f"_stage_progress {log}", tmp_path).stdout.strip() == "image 11/100, ETA 0:00:07"
    with open(log, "a") as f:
        f.write("[12/07 10:02:00 d2.evaluation.evaluator]: Total inference time: 0:00:09.9 (0.1 s"
                " / iter per device, on 1 devices)\n")
    assert bash(f"_stage_progress {log}", tmp_path).stdout.strip() == "inference done, scoring"
    bar = tmp_path / "bar.log"
    bar.write_text("val:  10%|#  | 10/100 [00:01<00:09, 9.9img/s]\r"
                   "val:  50%|#####  | 50/100 [00:05<00:05, 9.9img/s]")
    assert bash(f"_stage_progress {bar}", tmp_path).stdout.strip() == "50/100, ETA 00:05"


def test_a_finished_training_stage_is_skipped(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/model_final.pth").write_bytes(b"")
    result = bash("train_stage '[2/7] pre-train' configs/x.yaml out '' SOLVER.MAX_ITER 5", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[2/7] pre-train: finished earlier (out/model_final.pth)\n"
    assert not (tmp_path / "out/train.log").exists()
