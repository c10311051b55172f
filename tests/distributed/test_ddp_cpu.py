"""Two real processes over gloo: started by Lightning from the litmlp command, by torchrun, and spawned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, run_dirs
from tests.distributed.checks import (
    DDP,
    STEPS_PER_EPOCH,
    assert_one_distributed_run,
    assert_one_process_reproduces_test_metrics,
    assert_ranks_agree,
)

pytestmark = pytest.mark.slow


def test_lightning_launched_ranks_train_into_one_run_dir_with_metrics_one_process_reproduces(tmp_path):
    result = run_cli("train", *DDP, cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    run = assert_one_distributed_run(tmp_path)
    metrics = assert_ranks_agree(run)
    assert metrics["global_step"] == 2 * STEPS_PER_EPOCH
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


def test_torchrun_ranks_agree_on_one_run_dir_and_synchronise_metrics(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "litmlp", "train", *DDP],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = assert_one_distributed_run(tmp_path, name_prefix="torchrun-")
    metrics = assert_ranks_agree(run)
    assert metrics["global_step"] == 2 * STEPS_PER_EPOCH
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


def test_ddp_spawn_reports_the_same_run_as_the_other_launchers(tmp_path):
    # The spawned workers fit; the main process, which writes metrics.json, gets back weights and metrics.
    result = run_cli("train", *DDP, "trainer.strategy=ddp_spawn", cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["global_step"], metrics["epochs_trained"]) == (2 * STEPS_PER_EPOCH, 2)
    assert metrics["val_acc_best"] == metrics["val"]["val/acc_best"]
    assert metrics["best_checkpoint"].endswith(f"epoch_{metrics['best_epoch']:03d}.ckpt")
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)
