"""Sweeps through other launchers: several runs at once on this machine, and SLURM's submitit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from litmlp.config import config_dir, register
from tests.conftest import run_cli
from tests.sweeps.test_summary import TINY, read_summary


@pytest.mark.slow
def test_parallel_launcher_runs_every_run_with_a_share_of_the_cores(tmp_path):
    result = run_cli(
        "train", "-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2", "seed=0,1,2", *TINY, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    rows = read_summary(sweep_dir)
    assert sorted(row["seed"] for row in rows) == ["0", "1", "2"]
    assert all(row["status"] == "ok" for row in rows)
    threads = max(1, (os.cpu_count() or 1) // 2)
    for row in rows:
        assert (
            f"torch threads: {threads}"
            in (sweep_dir / row["run_dir"].rsplit("/", 1)[1] / "train.log").read_text()
        )


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_sweep(tmp_path):
    # torch would take every core (OMP_NUM_THREADS as on a user's machine); the share must set 1.
    every_core = {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    result = run_cli(
        "train", "-m", "hydra/launcher=slurm_local", "seed=0,1", *TINY, cwd=tmp_path, env=every_core
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    rows = read_summary(sweep_dir)
    assert [row["status"] for row in rows] == ["ok", "ok"]
    for row in rows:  # runs started at once share the cores: one thread each (cpus_per_task: 1)
        assert "torch threads: 1" in (Path(row["run_dir"]) / "train.log").read_text()


def test_slurm_launcher_config_composes():
    register()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
            return_hydra_config=True,
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.partition, launcher.signal_delay_s, launcher.gpus_per_node) == ("gpu", 120, 1)
