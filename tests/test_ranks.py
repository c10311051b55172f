"""How a process learns its rank, its job and its run directory from the launcher that started it."""

from __future__ import annotations

import re

import pytest

from litmlp.errors import LitmlpError
from litmlp.runtime.ranks import (
    AnnouncedJob,
    announce_job,
    job_overrides,
    process_rank,
    relaunched_job,
    run_id,
)
from litmlp.runtime.resume_run import refuse_taken_run_dir

LAUNCHER_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "TORCHELASTIC_RUN_ID",
    "SLURM_JOB_ID",
    "SLURM_STEP_ID",
    "SLURM_PROCID",
    "LITMLP_JOB",
    "TORCHELASTIC_USE_AGENT_STORE",
    "MASTER_ADDR",
    "MASTER_PORT",
)
RUN_ID = r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_[0-9a-f]{6}"


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
    assert re.fullmatch(RUN_ID, run_id())


def test_torchrun_ranks_share_the_run_dir_of_torchruns_id(monkeypatch):
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abc123")
    assert run_id() == "torchrun-abc123"


@pytest.fixture
def torchrun_static_rendezvous(monkeypatch):
    """torchrun's default: TORCHELASTIC_RUN_ID=none, and its agent hosts a store for the ranks."""
    from torch.distributed import TCPStore

    agent_store = TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(agent_store.port))
    return agent_store


def test_torchrun_ranks_without_a_run_id_share_the_first_proposed_name(
    monkeypatch, torchrun_static_rendezvous
):
    first = run_id()
    assert re.fullmatch(RUN_ID, first)
    assert [run_id() for _ in range(3)] == [first] * 3  # every other rank asks once
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE")
    assert run_id() != first  # proof that the store, not the clock, made them equal


def test_a_restarted_torchrun_attempt_meets_its_run_and_is_refused(
    monkeypatch, tmp_path, torchrun_static_rendezvous
):
    monkeypatch.chdir(tmp_path)
    refuse_taken_run_dir(["trainer=cpu"])  # the first attempt: nothing there yet
    run = tmp_path / "logs" / "train" / "runs" / run_id()
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    with pytest.raises(LitmlpError, match=f"{run} already holds a run; continue it with: litmlp train"):
        refuse_taken_run_dir(["trainer=cpu"])


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
