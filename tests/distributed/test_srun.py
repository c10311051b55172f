"""Ranks started by SLURM's srun: every task composes its own config; they agree on the job's run dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.distributed.checks import (
    DDP,
    STEPS_PER_EPOCH,
    assert_one_distributed_run,
    assert_one_process_reproduces_test_metrics,
    assert_ranks_agree,
)
from tests.helpers import slurm

pytestmark = pytest.mark.slow


def srun_train(cwd: Path, env: dict[str, str], nodes: int = 1) -> subprocess.CompletedProcess[str]:
    shape = [f"--nodes={nodes}", f"--ntasks-per-node={2 // nodes}"]
    overrides = [f"trainer.num_nodes={nodes}", f"trainer.devices={2 // nodes}"]
    command = ["srun", *shape, sys.executable, "-m", "litmlp", "train", *DDP, *overrides]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


# Lightning alone would not see SLURM in a job named "interactive" or "bash" (srun inside salloc), and each
# task would start ranks of its own.
@pytest.mark.parametrize("job_name", ["litmlp", "interactive"])
def test_srun_tasks_agree_on_a_run_dir_named_after_the_job_step(tmp_path, job_name):
    # srun is not installed on every machine that runs these tests: a stand-in starts the two tasks with
    # the environment srun gives them, which is all litmlp and Lightning read.
    env = slurm.install(tmp_path / "bin", tmp_path / "scontrol.log")
    result = srun_train(tmp_path, {**env, "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": job_name})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = assert_one_distributed_run(tmp_path, name_prefix="slurm-4242.0")
    metrics = assert_ranks_agree(run)
    assert metrics["global_step"] == 2 * STEPS_PER_EPOCH
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


def test_srun_tasks_on_two_nodes_train_one_run(tmp_path):
    env = slurm.install(tmp_path / "bin", tmp_path / "scontrol.log")
    result = srun_train(tmp_path, {**env, "SLURM_JOB_ID": "4243"}, nodes=2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run = assert_one_distributed_run(tmp_path, name_prefix="slurm-4243.0")
    metrics = assert_ranks_agree(run)  # rank 1: node 1's only task
    assert metrics["global_step"] == 2 * STEPS_PER_EPOCH
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


def slurm_cluster_up() -> bool:
    """Asked when the test runs, not at collection: with the daemons down, `sinfo` takes 9 s to say so."""
    if shutil.which("srun") is None or shutil.which("sinfo") is None:
        return False
    try:
        nodes = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return False
    return nodes.returncode == 0 and "idle" in nodes.stdout


def test_real_srun_trains_two_ranks_into_one_run_dir(tmp_path):
    if not slurm_cluster_up():
        pytest.skip("needs a running SLURM cluster with an idle node")
    result = srun_train(tmp_path, {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert_ranks_agree(assert_one_distributed_run(tmp_path, name_prefix="slurm-"))
