"""The `litmlp` command as users run it: real subprocesses in a temporary directory."""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from litmlp.runtime.ranks import run_id
from tests.conftest import run_cli, run_dirs

FAST = ("debug=fast_dev_run", "callbacks.rich_progress_bar=null")


def test_help_lists_the_commands(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "train" in result.stdout
    assert "eval" in result.stdout


def help_groups(command: str, cwd: Path) -> dict[str, list[str]]:
    """The config groups `litmlp COMMAND --help` lists, with their options."""
    result = run_cli(command, "--help", cwd=cwd)
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    lines = [line for line in section.splitlines()[2:] if line.strip()]
    return {group: options.split(", ") for group, options in (line.split(": ", 1) for line in lines)}


def test_command_help_lists_the_groups_that_command_composes_and_the_launchers(tmp_path):
    train = help_groups("train", tmp_path)
    assert set(train) >= {"data", "model", "model/optimizer", "trainer", "callbacks", "logger", "experiment"}
    assert {"parallel", "slurm", "slurm_local", "basic"} <= set(train["hydra/launcher"])
    assert "litmlp_optuna" in train["hydra/sweeper"]
    assert not [group for group in train if group.startswith(("schema", "signature"))]  # internals
    evaluate = help_groups("eval", tmp_path)
    assert {"trainer", "logger", "hydra/launcher"} <= set(evaluate)
    assert not {"callbacks", "model", "data", "debug"} & set(evaluate)  # train's groups
    assert set(help_groups("predict", tmp_path)) == {"paths"}


def test_console_script_is_installed(tmp_path):
    script = shutil.which("litmlp") or str(Path(sys.executable).with_name("litmlp"))
    result = subprocess.run([script, "--help"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "commands:" in result.stdout


def test_unknown_command_is_one_line_and_exit_2(tmp_path):
    result = run_cli("fit", cwd=tmp_path)
    assert result.returncode == 2
    choices = "train, eval, predict, export, serve, summarize, inspect"
    assert result.stderr.strip() == f"litmlp: error: unknown command 'fit' (choose from: {choices})"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "model.optimzer.lr=1"], "unknown config key 'model.optimzer'"),
        (["train", "data.batch_size=abc"], "invalid value for 'data.batch_size'"),
        (
            ["train", "model=transformer"],
            "unknown option 'transformer' for config group 'model' (available: linear, mlp)",
        ),
        (["train", "trainer.max_epochs=ten"], "invalid value for 'trainer.max_epochs'"),
        (["train", "trainer.limit_train_batches=half"], "invalid value for 'trainer.limit_train_batches'"),
        (["eval"], "missing required value: ckpt_path"),
        pytest.param(
            ["eval", "ckpt_path=missing.ckpt"], "checkpoint not found: missing.ckpt", marks=pytest.mark.slow
        ),
        pytest.param(
            ["train", "data.val_fraction=1.5"],
            "data.val_fraction=1.5: must be above 0 and below 1",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            ["train", "model.net._target_=litmlp.models.Nope"],
            "Error locating target 'litmlp.models.Nope' (at 'model.net')",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_bad_input_is_one_line_naming_it_without_traceback(tmp_path, args, expected):
    result = run_cli(*args, cwd=tmp_path)
    # The README's exit codes: 2 for a config or usage error, 1 for a run that failed on bad input.
    usage = any(
        word in expected
        for word in ("unknown", "invalid value", "missing required", "Error locating", "must be")
    )
    assert result.returncode == (2 if usage else 1)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"litmlp {args[0]}: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.slow
def test_failed_run_leaves_no_metrics_file(tmp_path):
    result = run_cli("train", "data.val_fraction=1.5", cwd=tmp_path)
    assert result.returncode == 2
    (run,) = run_dirs(tmp_path)
    assert not (run / "metrics.json").exists()
    assert "data.val_fraction=1.5" in (run / "train.log").read_text()


def test_debug_flag_shows_the_traceback(tmp_path):
    import os

    env = {**os.environ, "LITMLP_DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "litmlp", "train", "data.batch_size=abc"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_cfg_job_prints_the_config_and_trains_nothing(tmp_path):
    result = run_cli("train", "--cfg", "job", "data.batch_size=32", cwd=tmp_path)
    assert result.returncode == 0
    assert "batch_size: 32" in result.stdout
    assert not (tmp_path / "logs").exists()


@pytest.mark.slow
def test_fast_dev_run_in_a_chosen_run_dir(tmp_path):
    result = run_cli("train", *FAST, "hydra.run.dir=mine", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "mine" / "metrics.json").read_text())
    assert metrics["global_step"] == 1
    assert set(metrics["test"]) == {"test/acc", "test/f1", "test/loss"}


@pytest.mark.slow
def test_multirun_gives_each_job_its_own_dir(tmp_path):
    result = run_cli("train", "-m", "seed=0,1", *FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (sweep,) = (tmp_path / "logs" / "debug" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert all((sweep / job / "metrics.json").is_file() for job in ("0", "1"))


@pytest.mark.slow
def test_runs_started_together_get_separate_dirs(tmp_path):
    command = [sys.executable, "-m", "litmlp", "train", *FAST]
    processes = [
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    assert [p.wait(timeout=300) for p in processes] == [0, 0]
    runs = run_dirs(tmp_path, "debug")
    assert len(runs) == 2
    assert all((run / "metrics.json").is_file() for run in runs)


def test_run_ids_in_the_same_second_differ():
    # 24 random bits: 20 draws collide with probability 1e-5 (1000 draws did 3% of the time).
    ids = {run_id() for _ in range(20)}
    assert len(ids) == 20


def test_training_runs_with_the_garbage_collector_on_and_the_start_up_objects_frozen(tmp_path):
    """The collector runs rarely while the libraries import (see `litmlp.cli.main`), as usual in training."""
    probe = [
        "+callbacks.probe._target_=tests.helpers.probe.RecordEnvironment",
        f"+callbacks.probe.arrivals={tmp_path / 'a'}",
    ]
    result = run_cli("train", *FAST, *probe, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "probe.json").read_text())
    assert tuple(record["gc_threshold"]) == gc.get_threshold()  # Python's defaults, as in this process
    assert record["gc_frozen"] > 100_000  # torch's, Lightning's and Hydra's objects
