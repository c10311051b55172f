"""scripts/slurm/train.sbatch: SIGUSR1 before the time limit saves and requeues; the requeued job resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.distributed.checks import DDP, STEPS_PER_EPOCH, assert_ranks_agree
from tests.helpers import slurm

pytestmark = pytest.mark.slow

SCRIPT = REPO / "scripts" / "slurm" / "train.sbatch"
EPOCHS = 40


def wait_for_file(path: Path, process: subprocess.Popen[str], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert process.poll() is None, f"the job ended before writing {path}: {process.communicate()}"
        assert time.monotonic() < deadline, f"no {path} after {timeout_s} s"
        time.sleep(0.05)


def test_sbatch_script_requeues_on_sigusr1_and_the_requeued_job_resumes(tmp_path):
    env = {
        **slurm.install(tmp_path / "bin", tmp_path / "scontrol.log"),
        # What sbatch gives the script for `--nodes=1 --ntasks-per-node=2`; CPU ranks instead of GPUs.
        "SLURM_JOB_ID": "4242",
        "SLURM_SUBMIT_DIR": str(tmp_path),
        "SLURM_NNODES": "1",
        "SLURM_NTASKS_PER_NODE": "2",
        "LITMLP": str(Path(sys.executable).with_name("litmlp")),
        "LITMLP_TRAINER": "ddp_cpu",
    }
    overrides = [*DDP, f"trainer.max_epochs={EPOCHS}", "callbacks.early_stopping=null"]
    run = tmp_path / "logs" / "train" / "runs" / "slurm-4242"
    job = subprocess.Popen(
        ["bash", str(SCRIPT), *overrides],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_file(run / "checkpoints" / "last.ckpt", job)  # the first epoch is done
    job.send_signal(signal.SIGUSR1)  # SLURM's warning (`--signal=USR1@120`) to every task of the step
    output = job.communicate(timeout=180)[0]
    assert job.returncode == 128 + signal.SIGUSR1, output[-3000:]
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"  # by rank 0 only
    assert not (run / "metrics.json").exists()

    requeued = subprocess.run(
        ["bash", str(SCRIPT), *overrides],
        cwd=tmp_path,
        env={**env, "SLURM_RESTART_COUNT": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert requeued.returncode == 0, requeued.stdout[-3000:] + requeued.stderr[-3000:]
    assert "restart 1 of job 4242: resuming logs/train/runs/slurm-4242" in requeued.stdout
    metrics = assert_ranks_agree(run)
    assert metrics["global_step"] == EPOCHS * STEPS_PER_EPOCH
    assert "Resuming" in (run / "train.log").read_text()
