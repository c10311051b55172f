"""Sweeps through other launchers: several runs at once on this machine, and SLURM's submitit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from litmlp.config import config_dir, register
from litmlp.errors import LitmlpError
from tests.conftest import cli_command, cli_environment, run_cli
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


PROBE = "+callbacks.probe._target_=tests.helpers.probe.RecordEnvironment"


def _probes(sweep_dir: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/probe.json"))]


@pytest.mark.slow
def test_parallel_launcher_pins_each_run_to_its_own_gpu_and_queues_the_rest(tmp_path):
    # Two GPU slots for five runs: the first two must meet (run at once), on different devices; no more
    # than two ever run at once, each on one device of the list, and the other runs wait for a free one.
    result = run_cli(
        "train", "-m", "hydra/launcher=parallel", "hydra.launcher.gpus=[3,5]", "seed=0,1,2,3,4", *TINY,
        PROBE, f"+callbacks.probe.arrivals={tmp_path / 'arrivals'}", "+callbacks.probe.meet=2", cwd=tmp_path,
        env={"CUDA_VISIBLE_DEVICES": "0,1,2,3,4,5"},  # six visible GPUs, on a machine without any
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    probes = _probes(sweep_dir)
    assert len(probes) == 5
    assert {probe["cuda_visible_devices"] for probe in probes} == {"3", "5"}
    assert len({probe["pid"] for probe in probes}) == 5  # a fresh process for every run
    for probe in probes:  # at any run's start, at most two run, each on its own GPU
        running = [other for other in probes if other["start"] <= probe["start"] < other["end"]]
        assert len(running) <= 2
        assert len({other["cuda_visible_devices"] for other in running}) == len(running)
    assert "one per GPU slot (3 | 5)" in result.stdout


def test_parallel_launcher_gives_a_job_several_gpus_and_counts_visible_ones(monkeypatch):
    from hydra_plugins.litmlp_parallel.launcher import device_slots

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert device_slots([0, 1, 2, 3, 4], gpus_per_job=2) == ["0,1", "2,3"]  # a fifth GPU alone is unused
    assert device_slots(None, gpus_per_job=1) == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,7")  # SLURM gave this job two GPUs
    assert device_slots("auto", gpus_per_job=1) == ["2", "7"]
    assert device_slots([1], gpus_per_job=1) == ["7"]  # indices into the visible GPUs, as torch counts
    with pytest.raises(LitmlpError, match=r"hydra\.launcher\.gpus=\[2\]: GPU 2 is not among the 2 visible"):
        device_slots([2], gpus_per_job=1)
    with pytest.raises(LitmlpError, match=r"gpus_per_job=3: there are 2 GPUs to share"):
        device_slots("auto", gpus_per_job=3)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU may be used: no pinning
    assert device_slots("auto", gpus_per_job=1) == []


def test_a_job_line_never_shows_the_storage_password():
    import logging

    from hydra_plugins.litmlp_optuna.sweeper import _WithoutBookkeeping

    overrides = (
        "seed=1 +callbacks.optuna_pruning.storage='postgresql://u:s3cret@db/optuna' hydra.sweep.subdir=4"
    )
    record = logging.LogRecord("launcher", logging.INFO, __file__, 0, "\t#%d : %s", (4, overrides), None)
    assert _WithoutBookkeeping().filter(record)
    assert record.getMessage() == "\t#4 : seed=1"


@pytest.mark.slow
def test_parallel_launcher_records_a_killed_run_as_failed_and_goes_on(tmp_path):
    result = run_cli(
        "train", "-m", "hydra/launcher=parallel", "seed=0,1,2", *TINY,
        "+callbacks.interrupt._target_=tests.helpers.interrupt.Interrupt", "+callbacks.interrupt.step=3",
        "+callbacks.interrupt.hook=batch_end", "+callbacks.interrupt.signal_name=SIGKILL",
        f"+callbacks.interrupt.marker={tmp_path / 'killed'}", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-3000:]
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    rows = read_summary(sweep_dir)
    assert sorted(row["status"] for row in rows) == ["failed", "ok", "ok"]
    (failed,) = (row for row in rows if row["status"] == "failed")
    assert (
        failed["error"]
        == "the run's process ended with signal SIGKILL before it finished (out of memory? killed?)"
    )
    assert "litmlp train: 1 of 3 runs failed" in result.stderr


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


def _paused_parallel_sweep(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """A parallel sweep of three runs, started in a process group of its own (as a terminal starts a
    command), once its first two runs wait at step 2 until `tmp_path/go` exists; and its multiruns dir."""
    pause = (
        "+callbacks.pause._target_=tests.helpers.interrupt.Pause",
        "+callbacks.pause.step=2",
        "+callbacks.pause.paused=${paths.output_dir}/paused",
        f"+callbacks.pause.resume={tmp_path / 'go'}",
    )
    command = cli_command("train", "-m", "hydra/launcher=parallel", "seed=0,1,2", *TINY, *pause)
    sweep = subprocess.Popen(
        command, cwd=tmp_path, env=cli_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    multiruns = tmp_path / "logs" / "train" / "multiruns"
    deadline = time.monotonic() + 120
    while (
        len(list(multiruns.glob("*/*/paused"))) < 2 and sweep.poll() is None and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert len(list(multiruns.glob("*/*/paused"))) == 2, "two runs never reached the pause"
    return sweep, multiruns


@pytest.mark.slow
def test_ctrl_c_stops_each_running_job_of_a_parallel_sweep_after_its_checkpoint(tmp_path):
    sweep, multiruns = _paused_parallel_sweep(tmp_path)
    os.killpg(sweep.pid, signal.SIGINT)  # Ctrl-C: every process of the sweep gets it
    (tmp_path / "go").touch()
    _, stderr = sweep.communicate(timeout=120)
    assert sweep.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    (sweep_dir,) = multiruns.iterdir()
    stops = sorted(
        line for line in stderr.splitlines() if "stopped by SIGINT after saving a checkpoint" in line
    )
    assert stops == [
        f"litmlp train: stopped by SIGINT after saving a checkpoint; continue with: litmlp train resume={run}"
        for run in (sweep_dir / "0", sweep_dir / "1")
    ]
    assert (
        stderr.strip().splitlines()[-1]
        == "litmlp train: the sweep stopped; its remaining runs were not started"
    )
    assert not (sweep_dir / "2").exists()
    resumed = run_cli("train", f"resume={sweep_dir / '0'}", "trusted_targets=[tests.helpers.]", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (sweep_dir / "0" / "metrics.json").is_file()


@pytest.mark.slow
def test_the_runs_of_a_killed_parallel_sweep_save_and_stop(tmp_path):
    sweep, multiruns = _paused_parallel_sweep(tmp_path)
    sweep.kill()  # SIGKILL: the sweep's process says nothing to anyone
    (tmp_path / "go").touch()
    # The output pipes close once every process of the sweep has ended: none trains on, unseen.
    sweep.communicate(timeout=120)
    for run in ("0", "1"):
        log = (next(multiruns.iterdir()) / run / "train.log").read_text()
        assert "SIGTERM: stopped at step 2 after saving" in log
