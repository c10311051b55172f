"""Optuna search on the current Optuna release, through litmlp's own Hydra sweeper."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import textwrap
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml

from hydra_plugins.litmlp_optuna.sweeper import (
    OWNER,
    SURPLUS,
    LitmlpOptunaSweeperConf,
    OptunaSweeper,
    _this_machine,
    parse_space,
)
from litmlp.runtime.sweeps.pruning import ALIVE
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


@pytest.mark.slow
def test_a_search_whose_study_has_its_trials_says_so_and_exits_0(tmp_path):
    command = ("train", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.n_trials=2", *TINY)
    assert run_cli(*command, cwd=tmp_path).returncode == 0
    again = run_cli(*command, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    trials = study_trials(tmp_path / "logs" / "train" / "multiruns" / "mlp_optuna.optuna.db", "mlp_optuna")
    best = max((t for t in trials if t.value is not None), key=lambda t: t.value)
    (line,) = [line for line in (again.stdout + again.stderr).splitlines() if "nothing to run" in line]
    assert line.endswith(
        f"study mlp_optuna already has its 2 trials (best trial {best.number}: best score {best.value} with "
        f"{best.params}); nothing to run (raise hydra.sweeper.n_trials to run more)"
    )
    assert "warning" not in (again.stdout + again.stderr).lower()
    sweeps = [
        p for p in (tmp_path / "logs" / "train" / "multiruns").iterdir() if (p / "multirun.yaml").exists()
    ]
    assert len(sweeps) == 1  # the second search left no empty sweep directory
    assert len(trials) == 2


@pytest.mark.slow
def test_seeds_given_to_a_search_run_in_every_trial_which_scores_their_mean(tmp_path):
    result = run_cli(
        "train", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.n_trials=2", "seed=0,1", *TINY,
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    multiruns = tmp_path / "logs" / "train" / "multiruns"
    (sweep_dir,) = [p for p in multiruns.iterdir() if (p / "multirun.yaml").exists()]
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0.0", "0.1", "1.0", "1.1"]
    for trial in study_trials(multiruns / "mlp_optuna.optuna.db", "mlp_optuna"):
        runs = [sweep_dir / f"{trial.number}.{index}" for index in (0, 1)]
        seeds = [yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["seed"] for run in runs]
        assert seeds == [0, 1]
        scores = [json.loads((run / "metrics.json").read_text())["best_score"] for run in runs]
        assert trial.value == pytest.approx(sum(scores) / 2)
    with (multiruns / "mlp_optuna" / "summary_settings.csv").open(newline="") as file:
        settings = list(csv.DictReader(file))
    assert [(row["runs"], row["repeats"]) for row in settings] == [("2/2", "seed=0 seed=1")] * 2


@pytest.mark.slow
def test_a_search_on_a_journal_file_shared_by_path(tmp_path):
    (tmp_path / "shared").mkdir()  # a cluster's shared filesystem
    result = run_cli(
        "train", "-m", "hparams_search=mlp_optuna", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.storage=journal:shared/study.log", *TINY, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "shared" / "study.log")))
    trials = optuna.load_study(study_name="mlp_optuna", storage=storage).trials
    assert [t.state for t in trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(t.intermediate_values for t in trials)  # the runs reported to the journal themselves


def test_a_storage_that_cannot_be_reached_is_one_line_without_its_password(tmp_path):
    result = run_cli(
        "train", "-m", "hparams_search=mlp_optuna",
        "hydra.sweeper.storage=postgresql://litmlp:s3cret@127.0.0.1:9/optuna", *TINY, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(
        "litmlp train: error: hydra.sweeper.storage=postgresql://litmlp:***@127.0.0.1:9/optuna: "
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert "s3cret" not in result.stdout + result.stderr


def _sweeper(**conf: object) -> OptunaSweeper:
    settings = dataclasses.asdict(LitmlpOptunaSweeperConf(params={"x": "float(0, 1)"}))
    return OptunaSweeper(**{**settings, **conf})


def _running_trial(study: optuna.Study, owner: str) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    study._storage.set_trial_user_attr(trial._trial_id, OWNER, owner)
    study._storage.set_trial_user_attr(trial._trial_id, ALIVE, time.time())  # as the search does
    return study._storage.get_trial(trial._trial_id)


def test_a_trial_is_stale_when_its_search_is_gone_or_silent_too_long():
    study = optuna.create_study()
    here = _this_machine()
    gone = subprocess.Popen(["true"])  # a process that has surely ended
    gone.wait()
    patient, impatient = _sweeper(stale_after_s=3600), _sweeper(stale_after_s=-1)
    assert not patient._stale(_running_trial(study, patient.owner))
    assert not impatient._stale(_running_trial(study, impatient.owner))  # its own, however silent
    assert not patient._stale(_running_trial(study, f"{here} {os.getppid()} 1a2b3c4d"))  # alive here
    assert patient._stale(_running_trial(study, f"{here} {gone.pid} 1a2b3c4d"))
    another_machine = _running_trial(study, "elsewhere 4026531836 4242 1a2b3c4d")
    assert not patient._stale(another_machine)  # it may still be training: it said so just now
    assert impatient._stale(another_machine)  # silent for longer than stale_after_s
    older = _running_trial(study, f"{here.split()[0]} {gone.pid}")  # an older litmlp's "host pid"
    assert not patient._stale(older)  # no PID namespace to trust the pid in: only silence tells
    assert impatient._stale(older)


def test_trials_asked_beyond_n_trials_by_searches_at_once_fail_without_running():
    study = optuna.create_study()
    first, second = _sweeper(n_trials=2), _sweeper(n_trials=2)
    assert first._ask(study) is not None
    assert second._ask(study) is not None
    assert first._ask(study) is None  # the study has its two trials: a third is surplus
    trials = study.get_trials()
    assert trials[2].state == optuna.trial.TrialState.FAIL
    assert trials[2].user_attrs[SURPLUS] is True
    assert sum(not t.user_attrs.get(SURPLUS) for t in trials) == 2
