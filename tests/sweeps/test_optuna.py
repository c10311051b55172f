"""Optuna search on the current Optuna release, through litmlp's own Hydra sweeper."""

from __future__ import annotations

import csv
import textwrap
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml

from hydra_plugins.litmlp_optuna.sweeper import parse_space
from tests.conftest import run_cli

SEARCH = textwrap.dedent(
    """\
    # @package _global_
    defaults:
      - override /hydra/sweeper: litmlp_optuna
    hydra:
      sweeper:
        study_name: built_to_prune
        n_trials: 8
        seed: 3
        pruner: threshold
        pruner_threshold: 0.55
        pruner_warmup_epochs: 1
        params:
          model.optimizer.lr: choice(0.01, 0.000001)
          data.batch_size: choice(128, 0)
    """
)
TINY = ("data.num_samples=3000", "trainer.max_epochs=2", "trainer=cpu", "callbacks.rich_progress_bar=null")


def test_search_spaces_parse():
    assert parse_space("a", "float(1e-4, 1e-1, log)") == optuna.distributions.FloatDistribution(
        1e-4, 0.1, log=True
    )
    assert parse_space("b", "int(16, 256)") == optuna.distributions.IntDistribution(16, 256)
    assert parse_space("c", "choice(64, 128, relu)").choices == (64, 128, "relu")
    with pytest.raises(ValueError, match="search space for 'd'"):
        parse_space("d", "uniform(0, 1)")


def study_trials(storage: Path, name: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=name, storage=f"sqlite:///{storage}").trials


@pytest.fixture(scope="session")
def search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 trials over a space with diverging (lr 1e-6 is pruned) and impossible (batch size 0) corners."""
    cwd = tmp_path_factory.mktemp("search")
    (cwd / "conf" / "hparams_search").mkdir(parents=True)
    (cwd / "conf" / "hparams_search" / "built_to_prune.yaml").write_text(SEARCH)
    result = run_cli(
        "train",
        "-m",
        "--config-dir",
        "conf",
        "hparams_search=built_to_prune",
        "trainer.max_epochs=3",
        "trainer=cpu",
        "callbacks.rich_progress_bar=null",
        cwd=cwd,
    )
    assert (cwd / "logs" / "train" / "multiruns" / "built_to_prune.optuna.db").is_file(), result.stderr[
        -3000:
    ]
    (cwd / "console.txt").write_text(result.stdout + result.stderr)
    return cwd / "logs" / "train" / "multiruns"


@pytest.mark.slow
def test_the_console_says_which_trials_were_pruned_and_counts_them(search):
    (sweep_dir,) = [path for path in search.iterdir() if (path / "multirun.yaml").is_file()]
    with (sweep_dir / "summary.csv").open(newline="") as file:
        counts = Counter(row["status"] for row in csv.DictReader(file))
    console = (search.parents[2] / "console.txt").read_text()
    pruned_lines = [line for line in console.splitlines() if ": pruned by the search after epoch " in line]
    assert len(pruned_lines) == counts["pruned"] > 0
    assert (
        f"Sweep done: 8 runs, {counts['failed']} failed, {counts['pruned']} pruned; best val/acc" in console
    )


@pytest.mark.slow
def test_search_records_pruned_failed_and_complete_trials_and_goes_on(search):
    trials = study_trials(search / "built_to_prune.optuna.db", "built_to_prune")
    assert [trial.number for trial in trials] == list(range(8))
    states = {trial.number: trial.state for trial in trials}
    for trial in trials:
        if trial.params["data.batch_size"] == 0:
            assert states[trial.number] == optuna.trial.TrialState.FAIL
        elif trial.params["model.optimizer.lr"] < 1e-3:
            assert states[trial.number] == optuna.trial.TrialState.PRUNED
        else:
            assert states[trial.number] == optuna.trial.TrialState.COMPLETE
    assert set(states.values()) == {
        optuna.trial.TrialState.FAIL,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.COMPLETE,
    }


@pytest.mark.slow
def test_search_writes_best_params_and_the_summary_and_skips_testing(search):
    (sweep_dir,) = [path for path in search.iterdir() if (path / "multirun.yaml").is_file()]
    best = yaml.safe_load((sweep_dir / "best_params.yaml").read_text())
    assert best["params"]["model.optimizer.lr"] == 0.01
    assert best["params"]["data.batch_size"] == 128
    with (sweep_dir / "summary.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 8
    assert {row["status"] for row in rows} == {"ok", "pruned", "failed"}
    counts = Counter(row["status"] for row in rows)
    assert (sweep_dir / "summary.md").read_text().splitlines()[-1] == (
        f"8 runs: {counts['ok']} ok, {counts['pruned']} pruned, {counts['failed']} failed, 0 unfinished; "
        "ranked by best val/acc."
    )
    assert float(rows[0]["best val/acc"]) == pytest.approx(best["best_score"])
    assert "test/acc" not in rows[0]  # the search compares validation results only: no run was tested
    assert not any(key.startswith("optuna.") for key in rows[0])


@pytest.mark.slow
def test_killed_search_resumes_without_losing_or_repeating_trials(tmp_path):
    kill = (
        "+callbacks.interrupt._target_=tests.helpers.interrupt.Interrupt",
        "+callbacks.interrupt.step=3",
        "+callbacks.interrupt.hook=batch_end",
        "+callbacks.interrupt.signal_name=SIGKILL",
        f"+callbacks.interrupt.marker={tmp_path / 'killed'}",
    )
    command = ("train", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.n_trials=3", *TINY, *kill)
    first = run_cli(*command, cwd=tmp_path)
    assert first.returncode == -9  # killed inside trial 0
    storage = tmp_path / "logs" / "train" / "multiruns" / "mlp_optuna.optuna.db"
    assert [t.state for t in study_trials(storage, "mlp_optuna")] == [optuna.trial.TrialState.RUNNING]

    second = run_cli(*command, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    trials = study_trials(storage, "mlp_optuna")
    # The interrupted trial does not count towards n_trials=3: three more run.
    assert [trial.number for trial in trials] == [0, 1, 2, 3]
    assert trials[0].state == optuna.trial.TrialState.FAIL  # the interrupted one, recorded once
    assert [t.state for t in trials[1:]] == [optuna.trial.TrialState.COMPLETE] * 3
    assert trials[1].params == trials[0].params  # its point is tried again
    assert trials[2].params != trials[0].params  # and the search goes on with new points
    # Runs are numbered by their trials, and the job lines show the trial's parameters only.
    newest = max((p for p in storage.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    assert sorted(p.name for p in newest.iterdir() if p.is_dir()) == ["1", "2", "3"]
    job_lines = [line for line in second.stdout.splitlines() if " : " in line and "#" in line]
    assert [line.split("#", 1)[1].split(" : ")[0] for line in job_lines] == ["1", "2", "3"]
    assert not any("optuna_pruning" in line for line in job_lines)
    assert "best trial " in second.stdout
    # One summary for the study, across both searches: the killed run and the three that finished.
    with (storage.parent / "mlp_optuna" / "summary.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert Counter(row["status"] for row in rows) == {"ok": 3, "unfinished": 1}
    assert len({Path(row["run_dir"]).parent for row in rows}) == 2  # from two sweep directories
    assert (storage.parent / "mlp_optuna" / "summary.png").is_file()


@pytest.mark.slow
def test_parallel_trials_through_the_launcher(tmp_path):
    result = run_cli(
        "train",
        "-m",
        "hparams_search=mlp_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=2",
        "hydra/launcher=parallel",
        *TINY,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    trials = study_trials(tmp_path / "logs" / "train" / "multiruns" / "mlp_optuna.optuna.db", "mlp_optuna")
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
