"""How a process learns its rank, its job and its run directory from the launcher that started it."""

from __future__ import annotations

import re

import pytest

from litmlp.config import run_id
from litmlp.config.resume import refuse_taken_run_dir
from litmlp.errors import LitmlpError
from litmlp.ranks import AnnouncedJob, announce_job, job_overrides, process_rank, relaunched_job

LAUNCHER_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "TORCHELASTIC_RUN_ID",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "SLURM_PROCID",
    "LITMLP_JOB",
)


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    for name in LAUNCHER_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so what a test sets is undone after it
        monkeypatch.delenv(name)


JOB = AnnouncedJob(command="train", run_dir="/runs/sweep/3", overrides=["seed=3"], in_sweep=True)


def test_a_rank_lightning_started_runs_the_job_rank_0_announced(monkeypatch):
    announce_job(JOB)
    assert relaunched_job() is None  # rank 0 itself
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert relaunched_job() == JOB
    assert process_rank() == 1
    assert job_overrides(JOB) == ["seed=3", "hydra.run.dir='/runs/sweep/3'"]


def test_torchrun_ranks_are_not_taken_for_lightning_started_ones(monkeypatch):
    announce_job(JOB)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("RANK", "3")
    assert relaunched_job() is None
    assert process_rank() == 3


def test_srun_tasks_take_their_rank_and_run_dir_from_slurm(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "812")
    monkeypatch.setenv("SLURM_STEP_ID", "2")
    monkeypatch.setenv("SLURM_PROCID", "5")
    assert process_rank() == 5
    assert run_id() == "slurm-812.2"


def test_a_batch_script_without_srun_keeps_time_stamped_run_dirs(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "812")  # sbatch's own shell has no step id
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_[0-9a-f]{6}", run_id())


def test_torchrun_ranks_share_the_run_dir_of_torchruns_id(monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abc123")
    assert run_id() == "torchrun-abc123"


def test_a_requeued_srun_job_started_without_resume_is_refused(monkeypatch, tmp_path):
    # The run directory comes from the job's ids, so a requeued job meets its own earlier run.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLURM_JOB_ID", "812")
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    refuse_taken_run_dir(["trainer=cpu"])  # nothing there yet
    run = tmp_path / "logs" / "train" / "runs" / "slurm-812.0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(LitmlpError, match=f"{run} already holds a run; continue it with: litmlp train"):
        refuse_taken_run_dir(["trainer=cpu"])
