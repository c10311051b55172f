"""`litmlp train` with the default config, end to end, and what it leaves in the run directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from tensorboard.plugins.hparams import plugin_data_pb2

from litmlp.tasks.train import train
from tests.conftest import run_cli, run_dirs


@pytest.fixture(scope="session")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `litmlp train` with the default config (CPU); several tests read what it left."""
    cwd = tmp_path_factory.mktemp("default_run")
    result = run_cli("train", "trainer=cpu", cwd=cwd, env={"COLUMNS": "200"})  # a wide console
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(cwd)
    return run, result.stdout


@pytest.fixture(scope="session")
def metrics(default_run: tuple[Path, str]) -> dict:
    return json.loads((default_run[0] / "metrics.json").read_text())


def test_default_training_reaches_90_percent_test_accuracy(default_run, metrics):
    assert metrics["test"]["test/acc"] >= 0.9
    printed = re.search(r"^acc\s+([\d.]+)\s+([\d.]+)$", default_run[1], re.MULTILINE)
    assert printed is not None, default_run[1][-2000:]
    assert float(printed.group(2)) == pytest.approx(metrics["test"]["test/acc"], abs=1e-6)


def test_the_console_says_what_matters_and_nothing_else(default_run, metrics):
    printed = default_run[1]
    # The model summary: the net's layers and the parameter count, not the metric objects or FLOPs.
    summary = printed.split("Model Classifier:\n", 1)[1].split("\n[", 1)[0].splitlines()
    assert summary[0].split() == ["Name", "Type", "Params"]
    assert [line.split()[:2] for line in summary[1:-1]] == [["net", "MLP"], ["net.layers", "Sequential"]]
    assert summary[-1] == "2,213 parameters (2,213 trainable, 0.009 MB as float32)"
    for chatter in ("FLOPs", "train_metrics", "GPU available: False", "TPU available", "already configured"):
        assert chatter not in printed, chatter
    # The progress bar's last epoch line shows the step loss and the epoch's val accuracy.
    epoch_lines = [line for line in printed.splitlines() if line.startswith("Epoch ")]
    assert re.search(r"loss: [\d.]+ val/acc: ([\d.]+)", epoch_lines[-1]), epoch_lines[-1]


def test_early_stopping_says_when_and_why_it_stopped(tmp_path):
    result = run_cli(
        "train",
        "trainer=cpu",
        "data.num_samples=1000",
        "callbacks.early_stopping.patience=1",
        "callbacks.early_stopping.min_delta=10",  # no epoch can improve by that much
        "callbacks.rich_progress_bar=null",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (line,) = [line for line in result.stdout.splitlines() if "Early stopping" in line]
    assert line.split(" - ", 1)[1].startswith(
        "Early stopping after 2 of 91 epochs: Monitored metric val/loss"
    )
    assert line.endswith(
        "(callbacks.early_stopping.patience=N waits longer, callbacks.early_stopping=null never stops)"
    )


def test_run_directory_holds_config_log_events_checkpoints_and_metrics(default_run, metrics):
    run = default_run[0]
    assert (run / ".hydra" / "config.yaml").is_file()
    assert "Results" in (run / "train.log").read_text()
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert Path(metrics["best_checkpoint"]).parent == run / "checkpoints"
    assert Path(metrics["best_checkpoint"]).is_file()
    assert metrics["best_epoch"] == int(Path(metrics["best_checkpoint"]).stem.split("_")[1])
    assert metrics["monitor"] == "val/acc"
    assert metrics["best_score"] == pytest.approx(metrics["val"]["val/acc_best"])
    assert set(metrics["val"]) >= {"val/loss", "val/acc", "val/f1"}


def test_tensorboard_has_train_val_test_scalars_with_expected_step_counts(default_run, metrics):
    events = EventAccumulator(
        str(default_run[0] / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0}
    )
    events.Reload()
    epochs, steps = metrics["epochs_trained"], metrics["global_step"]
    counts = {tag: len(events.Scalars(tag)) for tag in events.Tags()["scalars"]}
    for tag in ("train/loss", "train/acc", "train/f1", "train/lr", "val/loss", "val/acc", "val/f1"):
        assert counts[tag] == epochs, tag
    # Every group is a stage: no `epoch` scalar, no copies of the results under `hp/`.
    assert {tag.split("/", 1)[0] for tag in counts} == {"train", "val", "test"}
    assert counts["train/loss_step"] == steps // 10
    assert counts["test/acc"] == counts["test/f1"] == counts["test/loss"] == 1
    assert events.Scalars("test/acc")[0].value == pytest.approx(metrics["test"]["test/acc"])
    # The confusion matrix sits at the val scalars' steps; its counts (Text tab) cover the val split.
    val_steps = [event.step for event in events.Scalars("val/acc")]
    drawn = [step for epoch, step in enumerate(val_steps, 1) if epoch % 5 == 0 or epoch == len(val_steps)]
    assert [image.step for image in events.Images("val/confusion_matrix")] == drawn  # every 5th, the last
    assert all(image.width >= 200 for image in events.Images("val/confusion_matrix"))
    texts = events.Tensors("val/confusion_matrix_counts/text_summary")
    assert [text.step for text in texts] == val_steps
    table = texts[-1].tensor_proto.string_val[0].decode().splitlines()
    assert table[0] == "| true \\ predicted | 0 | 1 | 2 |"
    counts = [[int(cell) for cell in line.strip("|").split("|")[1:]] for line in table[2:]]
    correct = sum(counts[i][i] for i in range(3))
    assert correct / sum(map(sum, counts)) == pytest.approx(events.Scalars("val/acc")[-1].value, abs=1e-6)


def test_tensorboard_hparams_hold_the_runs_parameters_and_real_metrics(default_run, metrics):
    start_info, metric_tags = None, set()
    scalars = {}
    for path in (default_run[0] / "tensorboard").glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    if data.HasField("session_start_info"):
                        start_info = data.session_start_info
                    if data.HasField("experiment"):
                        metric_tags |= {info.name.tag for info in data.experiment.metric_infos}
                elif value.tag.startswith("hp/"):
                    scalars[value.tag] = value.simple_value if value.HasField("simple_value") else None
    assert start_info is not None
    assert start_info.hparams["model/optimizer/lr"].number_value == pytest.approx(0.003)
    assert start_info.hparams["model/optimizer/name"].string_value == "AdamW"
    assert start_info.hparams["data/batch_size"].number_value == 128
    assert start_info.hparams["trainer/max_epochs"].number_value == 20
    assert "trainer/fast_dev_run" not in start_info.hparams
    assert "data/num_workers" not in start_info.hparams
    assert {"val/acc_best", "val/acc", "test/acc"} <= metric_tags  # the run's own scalars
    assert "hp_metric" not in metric_tags
    assert not [tag for tag in scalars if tag.startswith("hp/")]
    assert start_info.group_name == default_run[0].name  # the trial, named by its run directory
    # hparams.yaml beside the events holds the same parameters (Lightning leaves it `{}`).
    stored = yaml.safe_load((default_run[0] / "tensorboard" / "hparams.yaml").read_text())
    assert stored["model/optimizer/lr"] == pytest.approx(0.003)
    assert set(stored) == set(start_info.hparams)


def test_eval_reproduces_the_printed_test_metrics(default_run, metrics, tmp_path):
    result = run_cli("eval", f"ckpt_path={metrics['best_checkpoint']}", "trainer=cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path, "eval")
    evaluated = json.loads((run / "metrics.json").read_text())["test"]
    for name, value in metrics["test"].items():
        assert evaluated[name] == pytest.approx(value, abs=1e-6), name


def test_linear_baseline_is_at_least_10_points_worse(make_config, metrics):
    linear = train(
        make_config(
            "model=linear",
            "trainer=cpu",
            "logger=none",
            "callbacks.rich_progress_bar=null",
            "callbacks.model_summary=null",
        )
    )
    assert linear["test"]["test/acc"] <= metrics["test"]["test/acc"] - 0.10


def test_debug_profiler_times_lightnings_hooks_over_the_quiet_default(make_config):
    """The default trainer's `profiler` is litmlp's NoProfiler; `debug=profiler` still replaces it."""
    cfg = make_config("debug=profiler", "trainer=cpu", "test=false", "callbacks.rich_progress_bar=null")
    train(cfg)
    report = (Path(cfg.paths.output_dir) / "fit-profile.txt").read_text()
    assert "run_training_epoch" in report
    assert "[Callback]ModelCheckpoint" in report  # every callback hook is timed, ours too
    assert "[Callback]StepLoss.on_train_batch_end" in report
