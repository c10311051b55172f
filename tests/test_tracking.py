"""MLflow and W&B (offline): one tracker run per litmlp run, holding what TensorBoard holds, continued when
the run resumes; several loggers at once. Read back with the MLflow client and from W&B's run files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_cli
from tests.helpers import wandb_files
from tests.tasks.test_resume import RUN, STEPS_PER_EPOCH, TRUST, interrupt

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("wandb")

EPOCH_ENDS = [STEPS_PER_EPOCH * epoch - 1 for epoch in range(1, 5)]


def client(cwd: Path) -> Any:
    return mlflow.MlflowClient(f"sqlite:///{cwd / 'logs' / 'mlflow' / 'mlflow.db'}")


def tensorboard_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def mlflow_history(tracking: Any, run_id: str) -> dict[str, list[tuple[int, float]]]:
    keys = tracking.get_run(run_id).data.metrics
    return {key: sorted((m.step, m.value) for m in tracking.get_metric_history(run_id, key)) for key in keys}


def assert_mlflow_holds(tmp_path: Path, run: Path, run_id: str, epochs: int) -> None:
    """One MLflow run, named after the run directory, finished, in the experiment named after the command,
    holding the run's HPARAMS as parameters, its TensorBoard scalars as metrics, each point once, and
    `metrics.json` and the best checkpoint as artifacts."""
    tracking = client(tmp_path)
    experiment = tracking.get_experiment_by_name("train")
    runs = tracking.search_runs([experiment.experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]
    mlflow_run = runs[0]
    assert (mlflow_run.info.run_name, mlflow_run.info.status) == ("run", "FINISHED")
    assert mlflow_run.data.tags["litmlp.run_dir"] == str(run.resolve())
    hparams = yaml.safe_load((run / "tensorboard" / "hparams.yaml").read_text())
    assert "model/optimizer/lr" in hparams
    assert mlflow_run.data.params == {key: str(value) for key, value in hparams.items()}
    scalars = tensorboard_scalars(run)
    history = mlflow_history(tracking, run_id)
    assert [step for step, _ in history["val/acc"]] == EPOCH_ENDS[:epochs]
    assert set(history) == set(scalars)
    for tag, points in scalars.items():
        assert [step for step, _ in history[tag]] == [step for step, _ in points], tag
        assert [value for _, value in history[tag]] == pytest.approx([v for _, v in points], rel=1e-6), tag
    summary = json.loads((run / "metrics.json").read_text())
    assert mlflow_run.data.metrics["test/acc"] == pytest.approx(summary["test"]["test/acc"])
    best = Path(summary["best_checkpoint"])
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=run_id, dst_path=str(tmp_path / "artifacts"), tracking_uri=tracking.tracking_uri
        )
    )
    assert (local / "metrics.json").read_bytes() == (run / "metrics.json").read_bytes()
    assert (local / "checkpoints" / best.name).read_bytes() == best.read_bytes()


def test_a_run_holds_its_hparams_scalars_and_files_in_mlflow(tmp_path):
    two_epochs = [o for o in RUN if not o.startswith("trainer.max_epochs=")] + ["trainer.max_epochs=2"]
    result = run_cli("train", *two_epochs, "logger=[tensorboard,mlflow]", "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "run"
    assert_mlflow_holds(tmp_path, run, json.loads((run / "mlflow.json").read_text())["run_id"], epochs=2)


@pytest.mark.slow
def test_a_killed_run_continues_its_mlflow_run_beside_tensorboard(tmp_path):
    first = run_cli(
        "train",
        *RUN,
        "logger=[tensorboard,mlflow]",
        *interrupt(2 * STEPS_PER_EPOCH, "epoch_start"),
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert first.returncode != 0
    run = tmp_path / "run"
    run_id = json.loads((run / "mlflow.json").read_text())["run_id"]
    killed = client(tmp_path).get_run(run_id)
    assert killed.info.status == "RUNNING"  # killed: nobody ended it
    assert killed.data.params["model/optimizer/lr"] == "0.003"  # logged as the run started
    resumed = run_cli("train", f"resume={run}", TRUST, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run / "mlflow.json").read_text())["run_id"] == run_id
    # The same run, every point once: none lost, none logged twice by the resume
    assert_mlflow_holds(tmp_path, run, run_id, epochs=4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "exit_code", "status"),
    [
        (interrupt(7, "batch_end", "SIGTERM"), 143, "KILLED"),  # stopped, to be resumed
        (("+callbacks.boom._target_=tests.helpers.boom.Boom",), 1, "FAILED"),  # a bug
    ],
)
def test_a_run_that_does_not_finish_ends_its_mlflow_run_saying_how(tmp_path, how, exit_code, status):
    result = run_cli("train", *RUN, "logger=mlflow", *how, "hydra.run.dir=run", cwd=tmp_path)
    assert result.returncode == exit_code, result.stderr[-3000:]
    run_id = json.loads((tmp_path / "run" / "mlflow.json").read_text())["run_id"]
    assert client(tmp_path).get_run(run_id).info.status == status


@pytest.mark.slow
def test_a_stopped_run_continues_its_wandb_run_under_the_same_id(tmp_path):
    """SIGTERM (Ctrl-C, a scheduler's stop): the run saves a checkpoint and ends its W&B run, whose offline
    file then holds every step so far; the resumed run writes a second file under the same id. (After a
    SIGKILL, W&B's offline file keeps only what W&B had written out: see the README.)"""
    first = run_cli(
        "train",
        *RUN,
        "logger=[tensorboard,wandb]",
        *interrupt(2 * STEPS_PER_EPOCH + 3, "batch_end", "SIGTERM"),
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert first.returncode == 143, first.stderr[-3000:]
    run = tmp_path / "run"
    assert run_cli("train", f"resume={run}", TRUST, cwd=tmp_path).returncode == 0
    wandb_id = json.loads((run / "wandb.json").read_text())["id"]
    files = wandb_files.run_files(run)
    assert [wandb_files.run_info(f)["id"] for f in files] == [wandb_id, wandb_id]
    hparams = yaml.safe_load((run / "tensorboard" / "hparams.yaml").read_text())
    assert wandb_files.config(files[-1])["model/optimizer/lr"] == hparams["model/optimizer/lr"]
    rows = [wandb_files.history(f) for f in files]
    val_acc = [
        (row["trainer/global_step"], row["val/acc"]) for part in rows for row in part if "val/acc" in row
    ]
    assert [step for step, _ in val_acc[:2]] == EPOCH_ENDS[:2]  # before the stop, in the first file
    expected = tensorboard_scalars(run)["val/acc"]
    assert [step for step, _ in val_acc] == [step for step, _ in expected]
    assert [value for _, value in val_acc] == pytest.approx([value for _, value in expected], rel=1e-6)
    summary = json.loads((run / "metrics.json").read_text())
    assert rows[-1][-1]["hp/test_acc"] == pytest.approx(summary["test"]["test/acc"])


@pytest.mark.slow
def test_each_job_of_a_sweep_gets_its_own_mlflow_and_wandb_run(tmp_path):
    sweep = run_cli(
        "train",
        "-m",
        "seed=0,1",
        "logger=[mlflow,wandb]",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "data.num_samples=600",
        "callbacks.rich_progress_bar=null",
        "hydra.sweep.dir=sweeps/lr-search",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    tracking = client(tmp_path)
    experiment = tracking.get_experiment_by_name("lr-search")  # the sweep's name
    runs = sorted(tracking.search_runs([experiment.experiment_id]), key=lambda r: r.info.run_name)
    # Named by job number and its settings (the sweep's first), as in TensorBoard's HPARAMS table
    assert [(r.info.run_name.split(" ")[:2], r.data.params["seed"], r.info.status) for r in runs] == [
        (["#0", "seed=0"], "0", "FINISHED"),
        (["#1", "seed=1"], "1", "FINISHED"),
    ]
    for job, mlflow_run in enumerate(runs):
        run = tmp_path / "sweeps" / "lr-search" / str(job)
        assert json.loads((run / "mlflow.json").read_text())["run_id"] == mlflow_run.info.run_id
        summary = json.loads((run / "metrics.json").read_text())
        assert mlflow_run.data.metrics["test/acc"] == pytest.approx(summary["test"]["test/acc"])
    wandb_runs = []
    for job in (0, 1):
        [run_file] = wandb_files.run_files(tmp_path / "sweeps" / "lr-search" / str(job))
        info = wandb_files.run_info(run_file)
        assert info["group"] == "lr-search"
        assert wandb_files.config(run_file)["seed"] == job
        assert any("test/acc" in row for row in wandb_files.history(run_file))
        wandb_runs.append(info["id"])
    assert len(set(wandb_runs)) == 2


@pytest.mark.slow
def test_the_jobs_of_a_parallel_sweep_share_a_new_mlflow_store(tmp_path):
    """Four processes start together on a store that does not exist yet: one creates its tables (two at
    once collided: `duplicate column name`), each logs its own run."""
    sweep = run_cli(
        "train",
        "-m",
        "seed=0,1,2,3",
        "hydra/launcher=parallel",
        "logger=mlflow",
        "trainer=cpu",
        "trainer.max_epochs=2",
        "data.num_samples=600",
        "callbacks.rich_progress_bar=null",
        "hydra.sweep.dir=sweeps/parallel",
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    tracking = client(tmp_path)
    runs = tracking.search_runs([tracking.get_experiment_by_name("parallel").experiment_id])
    assert sorted((r.data.params["seed"], r.info.status) for r in runs) == [
        (str(seed), "FINISHED") for seed in range(4)
    ]


@pytest.mark.slow
def test_an_optuna_search_logs_to_the_experiment_of_its_study(tmp_path):
    """A study goes on over several invocations, each in a sweep directory of its own: its runs gather in
    one experiment, named after the study."""
    search = [
        "train",
        "-m",
        "hparams_search=mlp_optuna",
        "logger=mlflow",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "data.num_samples=600",
        "callbacks.rich_progress_bar=null",
    ]
    for trials in (1, 2):  # the second invocation continues the study with one more trial
        result = run_cli(*search, f"hydra.sweeper.n_trials={trials}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    tracking = client(tmp_path)
    runs = tracking.search_runs([tracking.get_experiment_by_name("mlp_optuna").experiment_id])
    assert sorted(r.info.run_name.split(" ")[0] for r in runs) == ["#0", "#1"]
    assert {r.info.status for r in runs} == {"FINISHED"}
