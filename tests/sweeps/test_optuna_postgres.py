"""An Optuna study shared by two searches at once, as two machines would run it, on a real PostgreSQL
server: Debian's `postgresql` package, started here on a fresh data directory and a local socket."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import yaml

from hydra_plugins.litmlp_optuna.sweeper import OWNER, SURPLUS
from tests.conftest import cli_command, cli_environment
from tests.sweeps.test_optuna import SEARCH, TINY

SERVERS = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, its commands run as the package's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL server on a socket in `tmp_path`; its URL."""
    if not SERVERS:
        pytest.fail("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    bin_dir = SERVERS[-1].parent
    server = tmp_path / "postgres"  # its data directory, socket and log
    server.mkdir()
    if os.geteuid() == 0:  # the server's user must reach its directory under root's pytest temp dir
        for directory in (tmp_path, *tmp_path.parents):
            if directory in (Path("/tmp"), Path("/")):
                break
            directory.chmod(directory.stat().st_mode | 0o111)
        shutil.chown(server, "postgres")
    data = server / "data"
    subprocess.run(
        _as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "litmlp", "--auth=trust"]),
        check=True,
        capture_output=True,
    )
    options = f"-k {server} -c listen_addresses='' -p 5439"
    start = [str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(server / "server.log"), "-w"]
    subprocess.run(_as_server_user([*start, "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql://litmlp@/postgres?host={server}&port=5439"
    finally:
        stop = [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_server_user(stop), check=False, capture_output=True)


@pytest.mark.slow
def test_two_searches_share_a_study_on_postgresql_without_lost_or_repeated_trials(tmp_path, postgres):
    # Both searches run the same command in the same directory, as two SLURM jobs on a shared filesystem.
    (tmp_path / "conf" / "hparams_search").mkdir(parents=True)
    (tmp_path / "conf" / "hparams_search" / "built_to_prune.yaml").write_text(
        SEARCH.replace("pruner: threshold", "pruner: median").replace("n_trials: 8", "n_trials: 10")
    )
    command = cli_command(
        "train", "-m", "--config-dir", "conf", "hparams_search=built_to_prune", "trainer.max_epochs=3",
        "hydra.sweeper.pruner_warmup_epochs=0", f"hydra.sweeper.storage='{postgres}'", *TINY,
        # The first trained runs wait for each other: both searches are certainly at work at once.
        "+callbacks.probe._target_=tests.helpers.probe.RecordEnvironment",
        f"+callbacks.probe.arrivals={tmp_path / 'arrivals'}", "+callbacks.probe.meet=2",
    )  # fmt: skip
    searches = [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            env=cli_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [search.communicate(timeout=600)[0] for search in searches]
    for search, output in zip(searches, outputs, strict=True):
        # A trial with batch size 0 fails: the sweep says so (exit 1) and goes on.
        assert search.returncode in (0, 1), output[-3000:]
        assert "Sweep done: " in output, output[-3000:]

    study = optuna.load_study(study_name="built_to_prune", storage=postgres)
    counted = [trial for trial in study.trials if not trial.user_attrs.get(SURPLUS)]
    assert len(counted) == 10  # the requested number: none lost, none run twice
    assert all(trial.state.is_finished() for trial in study.trials)
    assert len({trial.user_attrs[OWNER] for trial in counted}) == 2  # both searches ran trials
    states = Counter(trial.state for trial in counted)
    assert states[optuna.trial.TrialState.COMPLETE] > 0
    # Pruning reads the trials of both searches: the median pruner stopped diverging runs (lr 1e-6).
    pruned = [trial for trial in counted if trial.state == optuna.trial.TrialState.PRUNED]
    assert pruned
    assert all(trial.params["model.optimizer.lr"] == 0.000001 for trial in pruned)

    # Each search's sweep holds its own runs; together they are the study's, each run once.
    multiruns = tmp_path / "logs" / "train" / "multiruns"
    sweeps = [path for path in multiruns.iterdir() if (path / "multirun.yaml").is_file()]
    assert len(sweeps) == 2
    runs = [run for sweep in sweeps for run in sweep.iterdir() if (run / ".hydra").is_dir()]
    assert sorted(int(run.name) for run in runs) == sorted(trial.number for trial in counted)
    # The study's summary, written by whichever search finished last, lists every trial as the database.
    with (multiruns / "built_to_prune" / "summary.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    status = {"ok": "COMPLETE", "pruned": "PRUNED", "failed": "FAIL"}
    by_number = {int(Path(row["run_dir"]).name): status[row["status"]] for row in rows}
    assert by_number == {trial.number: trial.state.name for trial in counted}
    last = max(sweeps, key=lambda sweep: (sweep / "best_params.yaml").stat().st_mtime)
    best = yaml.safe_load((last / "best_params.yaml").read_text())
    assert (best["trial"], best["best_score"]) == (study.best_trial.number, study.best_value)
