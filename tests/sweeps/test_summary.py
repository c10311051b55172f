"""Grid sweeps: every run in its own directory, failures isolated, a summary that can be rebuilt."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from litmlp.runtime.sweeps.summary import settings, summary_line, write_summary
from tests.conftest import run_cli

TINY = ("data.num_samples=600", "trainer.max_epochs=2", "trainer=cpu", "callbacks.rich_progress_bar=null")


@pytest.fixture(scope="session")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """seed 0,1 x batch size 64,0: the batch size 0 runs fail, the others must still run."""
    cwd = tmp_path_factory.mktemp("sweep")
    result = run_cli("train", "-m", "seed=0,1", "data.batch_size=64,0", *TINY, cwd=cwd)
    assert result.returncode == 1, result.stderr[-3000:]
    (sweep_dir,) = (cwd / "logs" / "train" / "multiruns").iterdir()
    return sweep_dir, result.stderr


def read_summary(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "summary.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def test_every_combination_runs_in_its_own_directory(sweep):
    sweep_dir, _ = sweep
    rows = read_summary(sweep_dir)
    assert sorted((row["seed"], row["data.batch_size"]) for row in rows) == [
        ("0", "0"),
        ("0", "64"),
        ("1", "0"),
        ("1", "64"),
    ]
    assert len({row["run_dir"] for row in rows}) == 4
    assert all(Path(row["run_dir"]).parent == sweep_dir for row in rows)


def test_failed_runs_are_recorded_and_the_exit_code_says_so(sweep):
    sweep_dir, stderr = sweep
    rows = read_summary(sweep_dir)
    failed = [row for row in rows if row["status"] == "failed"]
    assert [row["data.batch_size"] for row in failed] == ["0", "0"]
    assert all(row["error"] == "data.batch_size=0: must be at least 1" for row in failed)
    assert all((Path(row["run_dir"]) / "error.txt").is_file() for row in failed)
    assert f"litmlp train: 2 of 4 runs failed; see {sweep_dir / 'summary.md'}" in stderr


def test_summary_ranks_by_best_validation_accuracy(sweep):
    sweep_dir, _ = sweep
    rows = read_summary(sweep_dir)
    ok = [row for row in rows if row["status"] == "ok"]
    assert [row["status"] for row in rows] == ["ok", "ok", "failed", "failed"]
    assert float(ok[0]["best val/acc"]) >= float(ok[1]["best val/acc"])
    assert all(float(row["test/acc"]) > 0 and float(row["wall_time_s"]) > 0 for row in ok)
    markdown = (sweep_dir / "summary.md").read_text()
    assert markdown.startswith("## 2 settings over seed (mean ± std of the finished runs)\n")
    assert "4 runs: 2 ok, 2 failed, 0 unfinished; ranked by best val/acc." in markdown
    assert (sweep_dir / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_runs_differing_only_in_seed_are_aggregated_into_their_setting(sweep):
    sweep_dir, _ = sweep
    runs = {(row["data.batch_size"], row["seed"]): row for row in read_summary(sweep_dir)}
    with (sweep_dir / "summary_settings.csv").open(newline="") as file:
        settings = list(csv.DictReader(file))
    assert [(row["data.batch_size"], row["runs"], row["repeats"]) for row in settings] == [
        ("64", "2/2", "seed=0 seed=1"),
        ("0", "0/2", "seed=0 seed=1"),  # no finished run: no statistics
    ]
    for metric in ("best val/acc", "test/acc"):
        values = [float(runs["64", seed][metric]) for seed in ("0", "1")]
        assert float(settings[0][f"{metric} mean"]) == pytest.approx(statistics.mean(values), abs=1e-6)
        assert float(settings[0][f"{metric} std"]) == pytest.approx(statistics.stdev(values), abs=1e-6)
    assert settings[1]["best val/acc mean"] == ""
    mean, std = float(settings[0]["best val/acc mean"]), float(settings[0]["best val/acc std"])
    assert f" | 2/2 | seed=0 seed=1 | {mean:.6f} ± {std:.6f} |" in (sweep_dir / "summary.md").read_text()


def test_settings_are_ranked_by_their_mean_not_their_best_run(tmp_path):
    # lr=0.1 has the single best run, lr=0.01 the better mean: the settings table puts lr=0.01 first.
    scores = {("0.1", "0"): 0.95, ("0.1", "1"): 0.55, ("0.01", "0"): 0.80, ("0.01", "1"): 0.82}
    for number, ((lr, seed), score) in enumerate(scores.items()):
        run_dir = tmp_path / str(number)
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "overrides.yaml").write_text(f"- model.optimizer.lr={lr}\n- seed={seed}\n")
        metrics = {"best_score": score, "monitor": "val/acc", "best_mode": "max", "val": {"val/acc": score}}
        (run_dir / "metrics.json").write_text(json.dumps(metrics))
    rows = write_summary(tmp_path)
    assert rows[0].overrides == {"model.optimizer.lr": "0.1", "seed": "0"}  # runs: best run first
    groups = settings(rows)
    assert [group.overrides for group in groups] == [
        {"model.optimizer.lr": "0.01"},
        {"model.optimizer.lr": "0.1"},
    ]
    assert groups[0].stats["best val/acc"] == pytest.approx((0.81, statistics.stdev([0.80, 0.82]), 2))
    assert (tmp_path / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Ranked by a metric of the runs themselves, each run still counts once.
    by_metric = settings(write_summary(tmp_path, plot=False, rank_by="val/acc"))
    assert by_metric[0].stats["val/acc"] == pytest.approx((0.81, statistics.stdev([0.80, 0.82]), 2))
    line = summary_line(rows, tmp_path)
    assert (
        f"best setting 0.810000 ± {statistics.stdev([0.80, 0.82]):.6f} over 2 runs (model.optimizer.lr=0.01)"
        in line
    )


def test_a_sweep_without_repeats_has_no_settings_table(tmp_path):
    for number, lr in enumerate(("0.1", "0.01")):
        run_dir = tmp_path / str(number)
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "overrides.yaml").write_text(f"- model.optimizer.lr={lr}\n- seed=0\n")
        (run_dir / "metrics.json").write_text(json.dumps({"best_score": 0.5, "monitor": "val/acc"}))
    write_summary(tmp_path, plot=False)
    assert (tmp_path / "summary.md").read_text().startswith("| ")
    assert not (tmp_path / "summary_settings.csv").exists()


def test_summarize_rebuilds_the_summary_and_sees_unfinished_runs(sweep, tmp_path):
    sweep_dir, _ = sweep
    before = (sweep_dir / "summary.csv").read_text()
    (sweep_dir / "summary.csv").unlink()
    result = run_cli("summarize", str(sweep_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (sweep_dir / "summary.csv").read_text() == before
    assert "4 runs, 2 failed; best val/acc" in result.stdout

    # A run still going (or killed) has its overrides but neither metrics nor an error yet.
    running = sweep_dir / "9" / ".hydra"
    running.mkdir(parents=True)
    # A value may hold a newline or a pipe (a quoted override): one row of the table all the same.
    (running / "overrides.yaml").write_text('- seed=9\n- "+note=two\\nlines|here"\n')
    assert run_cli("summarize", str(sweep_dir), cwd=tmp_path).returncode == 0
    assert read_summary(sweep_dir)[-1]["status"] == "unfinished"
    assert read_summary(sweep_dir)[-1]["note"] == "two\nlines|here"  # the CSV keeps the value
    table = (sweep_dir / "summary.md").read_text().splitlines()
    for kind, header in (("unfinished", "status"), ("0/1", "repeats")):  # the runs and settings tables
        heading = next(line for line in table if line.startswith("| ") and f" {header} |" in line)
        row = next(line for line in table if "two" in line and f" {kind} |" in line)
        assert row.count("|") == heading.count("|") + 1
    assert (
        sum(line.startswith("| ") for line in table) == 6 + 4
    )  # headers, 3 settings and 5 runs: a line each
    (running / "overrides.yaml").unlink()
    running.rmdir()
    running.parent.rmdir()


def test_summarize_of_a_missing_directory_is_one_line(tmp_path):
    result = run_cli("summarize", "nowhere", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "litmlp summarize: error: sweep directory not found: nowhere"


def test_every_run_logs_tensorboard_with_its_hparams_under_the_sweep(sweep):
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2

    sweep_dir, _ = sweep
    for row in read_summary(sweep_dir):
        if row["status"] != "ok":
            continue
        starts, order = [], []
        for path in (Path(row["run_dir"]) / "tensorboard").glob("events.out.tfevents.*"):
            for event in EventFileLoader(str(path)).Load():
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "hparams":
                        data = plugin_data_pb2.HParamsPluginData.FromString(
                            value.metadata.plugin_data.content
                        )
                        if data.HasField("session_start_info"):
                            starts.append(data.session_start_info)
                        if data.HasField("experiment"):
                            order = [info.name for info in data.experiment.hparam_infos]
        (start,) = starts
        assert start.hparams["seed"].number_value == float(row["seed"])
        # What the sweep varies comes first, and names the trial: job number and its settings.
        assert order[:2] == ["seed", "data/batch_size"]
        job = Path(row["run_dir"]).name
        assert start.group_name.startswith(f"#{job} seed={row['seed']} data.batch_size=64 ")


@pytest.mark.parametrize(
    ("key", "values", "kind"),
    [
        ("seed", ["0", "1", "2"], "categorical"),  # a seed's number means nothing
        ("data.split_seed", ["3", "7"], "categorical"),
        ("model.optimizer.lr", ["0.001", "0.003", "0.01"], "log"),  # a decade: log scale
        ("model.optimizer.lr", ["0.002", "0.004"], "linear"),
        ("data.batch_size", ["64", "128"], "linear"),
        ("model.optimizer.weight_decay", ["0", "0.01"], "linear"),  # zero cannot go on a log axis
        ("model", ["mlp", "linear"], "categorical"),
    ],
)
def test_summary_plot_axes_suit_each_parameter(key, values, kind):
    from litmlp.runtime.sweeps.summary import axis_kind

    assert axis_kind(key, values) == kind
