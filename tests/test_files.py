"""Files (dld_spotter.files): one training run per OUTPUT_DIR."""
import json
import os
import subprocess
import sys

import pytest
from testing import REPO, TEACHER_TINY, logged, messages, tiny_opts

from dld_spotter.config import load_config
from dld_spotter.engine import TextSpotterTrainer
from dld_spotter.files import LOCK_FILE


def test_output_dir_lock_refuses_a_second_run(synth_dataset, tmp_path):
    cfg = load_config(TEACHER_TINY, tiny_opts(synth_dataset, tmp_path))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from dld_spotter.files import lock_output_dir;"
         f"lock_output_dir({str(tmp_path)!r}); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RuntimeError, match=rf"in use by process {holder.pid}.*{LOCK_FILE}"):
            TextSpotterTrainer(cfg)
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, stale
        holder.wait()
    assert (tmp_path / LOCK_FILE).exists()
    with logged("dld_spotter.files") as records:
        TextSpotterTrainer(cfg)
    assert f"process {holder.pid}, which locked this OUTPUT_DIR, is gone" in messages(records)
    assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
    TextSpotterTrainer(cfg)  # the same process again
