"""Any LightningModule plugs in: one written the usual way (lightning-hydra-template's MNISTLitModule shape:
a built `net`, optimizer and scheduler as partials, `save_hyperparameters()`, per-step `self.log` of
torchmetrics objects, `val/acc_best` from a MaxMetric), from a `--config-dir` and `PYTHONPATH` outside the
package, through every workflow: train, eval, resume after SIGKILL, sweep, HPARAMS, predict, export."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from litmlp.data import SyntheticDataModule
from litmlp.runtime.trust import load_run_config
from litmlp.tasks.trained_model import load_trained_model
from tests.conftest import REPO

MODULE = """
import torch
from lightning import LightningModule
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification.accuracy import Accuracy


class SimpleDenseNet(torch.nn.Module):
    def __init__(self, input_size: int, lin1_size: int, lin2_size: int, output_size: int) -> None:
        super().__init__()
        self.model = torch.nn.Sequential(
            torch.nn.Linear(input_size, lin1_size),
            torch.nn.ReLU(),
            torch.nn.Linear(lin1_size, lin2_size),
            torch.nn.ReLU(),
            torch.nn.Linear(lin2_size, output_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LitClassifier(LightningModule):
    def __init__(self, net, optimizer, scheduler, compile: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)
        self.net = net
        self.criterion = torch.nn.CrossEntropyLoss()
        self.train_acc = Accuracy(task="multiclass", num_classes=3)
        self.val_acc = Accuracy(task="multiclass", num_classes=3)
        self.test_acc = Accuracy(task="multiclass", num_classes=3)
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        self.val_acc_best = MaxMetric()

    def forward(self, x):
        return self.net(x)

    def on_train_start(self):
        self.val_loss.reset()
        self.val_acc.reset()
        self.val_acc_best.reset()

    def model_step(self, batch):
        x, y = batch
        logits = self.forward(x)
        loss = self.criterion(logits, y)
        preds = torch.argmax(logits, dim=1)
        return loss, preds, y

    def training_step(self, batch, batch_idx):
        loss, preds, targets = self.model_step(batch)
        self.train_loss(loss)
        self.train_acc(preds, targets)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch, batch_idx):
        loss, preds, targets = self.model_step(batch)
        self.val_loss(loss)
        self.val_acc(preds, targets)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self):
        acc = self.val_acc.compute()
        self.val_acc_best(acc)
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

    def test_step(self, batch, batch_idx):
        loss, preds, targets = self.model_step(batch)
        self.test_loss(loss)
        self.test_acc(preds, targets)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True, prog_bar=True)

    def configure_optimizers(self):
        optimizer = self.hparams.optimizer(params=self.trainer.model.parameters())
        if self.hparams.scheduler is not None:
            scheduler = self.hparams.scheduler(optimizer=optimizer)
            return {
                "optimizer": optimizer,
                "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch"},
            }
        return {"optimizer": optimizer}
"""

# Sizes written out, as lightning-hydra-template's mnist.yaml does.
MODEL_YAML = """\
_target_: my_project.LitClassifier
net:
  _target_: my_project.SimpleDenseNet
  input_size: 50
  lin1_size: 32
  lin2_size: 16
  output_size: 3
optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 0.003
  weight_decay: 0.0
scheduler:
  _target_: torch.optim.lr_scheduler.ReduceLROnPlateau
  _partial_: true
  mode: min
  factor: 0.1
  patience: 10
compile: false
"""
# 1400 training rows / batch 128 = 11 steps per epoch; a resume checkpoint every 4 steps.
RUN = (
    "model=lit",
    "trainer=cpu",
    "data.num_samples=2000",
    "trainer.max_epochs=3",
    "callbacks.rich_progress_bar=null",
    "callbacks.early_stopping=null",
    "callbacks.resume_checkpoint.every_n_train_steps=4",
)
TRUST = "trusted_targets=[my_project.,tests.helpers.]"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "my_project.py").write_text(textwrap.dedent(MODULE))
    (root / "my_conf" / "model").mkdir(parents=True)
    (root / "my_conf" / "model" / "lit.yaml").write_text(MODEL_YAML)
    return root


def litmlp(project: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user of the template runs it: their code on PYTHONPATH, their yaml in --config-dir."""
    env = {**os.environ, "PYTHONPATH": f"{project}{os.pathsep}{REPO}", "OMP_NUM_THREADS": "1"}
    env.pop("LITMLP_DEBUG", None)
    command, *rest = args
    config_dir = ["--config-dir", str(project / "my_conf")] if command == "train" else []
    return subprocess.run(
        [sys.executable, "-m", "litmlp", command, *config_dir, *rest],
        cwd=cwd or project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


@pytest.fixture(scope="module")
def trained(project: Path) -> Path:
    result = litmlp(project, "train", *RUN, "hydra.run.dir=runs/reference")
    assert result.returncode == 0, result.stderr[-3000:]
    return project / "runs" / "reference"


def metrics_of(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def test_it_trains_and_reports_from_lightning_state(trained):
    metrics = metrics_of(trained)
    assert metrics["monitor"] == "val/acc"
    assert metrics["best_score"] == pytest.approx(metrics["val"]["val/acc_best"])
    assert metrics["best_epoch"] in (0, 1, 2)
    assert metrics["global_step"] == 3 * 11
    assert metrics["test"]["test/acc"] > 0.4  # three classes: it learned something in 3 epochs
    # save_hyperparameters() put an nn.Module and partials among the hparams; the checkpoint stays safe.
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)
    assert checkpoint["hyper_parameters"]["net"].startswith("SimpleDenseNet(")


@pytest.mark.slow
def test_eval_of_its_best_checkpoint_matches_the_training_run(project, trained):
    metrics = metrics_of(trained)
    result = litmlp(project, "eval", f"ckpt_path={metrics['best_checkpoint']}", TRUST)
    assert result.returncode == 0, result.stderr[-3000:]
    (eval_run,) = (project / "logs" / "eval" / "runs").iterdir()
    assert metrics_of(eval_run)["test"] == metrics["test"]


@pytest.mark.slow
def test_it_resumes_bitwise_after_sigkill_mid_epoch(project, trained):
    interrupt = (
        "+callbacks.interrupt._target_=tests.helpers.interrupt.Interrupt",
        "+callbacks.interrupt.step=18",
        "+callbacks.interrupt.hook=batch_start",
        "+callbacks.interrupt.signal_name=SIGKILL",
        "+callbacks.interrupt.marker=${paths.output_dir}/interrupted",
    )
    first = litmlp(project, "train", *RUN, *interrupt, "hydra.run.dir=runs/killed")
    run = project / "runs" / "killed"
    assert first.returncode != 0
    assert (run / "interrupted").exists()
    resumed = litmlp(project, "train", f"resume={run}", TRUST)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    expected = torch.load(trained / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    got = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert expected.keys() == got.keys()
    for name, tensor in got.items():
        assert torch.equal(tensor, expected[name]), name
    assert metrics_of(run)["test"] == metrics_of(trained)["test"]
    # The epoch the kill interrupted reports what the uninterrupted run did: the metric states of its
    # first steps came back with the checkpoint.
    assert metrics_of(run)["val"] == metrics_of(trained)["val"]


@pytest.mark.slow
def test_a_sweep_ranks_its_runs_by_the_monitored_metric(project):
    result = litmlp(project, "train", "-m", *RUN, "seed=0,1", "hydra.sweep.dir=sweep")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((project / "sweep" / "summary.csv").open()))
    assert [row["status"] for row in rows] == ["ok", "ok"]
    scores = [float(row["best val/acc"]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    assert (
        "2 runs: 2 ok, 0 failed, 0 unfinished; ranked by best val/acc."
        in (project / "sweep" / "summary.md").read_text()
    )


@pytest.mark.slow
def test_its_run_has_a_tensorboard_hparams_entry_with_its_results(trained):
    events = EventAccumulator(str(trained / "tensorboard"))
    events.Reload()
    assert {"val/acc_best", "test/acc", "val/acc", "train/loss_step"} <= set(events.Tags()["scalars"])
    start = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(start).session_start_info
    assert info.hparams["model/optimizer/lr"].number_value == pytest.approx(0.003)
    assert info.hparams["model/net/name"].string_value == "SimpleDenseNet"


@pytest.mark.slow
def test_predict_and_export_run_its_module(project, trained):
    checkpoint = Path(metrics_of(trained)["best_checkpoint"])
    features, _ = SyntheticDataModule(num_samples=40).load()
    with (project / "rows.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([f"x{i}" for i in range(50)])
        writer.writerows(features.tolist())
    result = litmlp(project, "predict", f"ckpt_path={checkpoint}", "input=rows.csv", "output=out.csv", TRUST)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.reader((project / "out.csv").open()))
    probabilities = np.array([[float(p) for p in row[1:]] for row in rows[1:]])
    sys.path.insert(0, str(project))
    try:
        trained_model = load_trained_model(checkpoint, load_run_config(checkpoint, ["my_project."]))
        with torch.no_grad():
            expected = trained_model.model(features).numpy()
    finally:
        sys.path.remove(str(project))
    assert np.allclose(probabilities, expected, atol=1e-5)

    exported = project / "model.pt"
    result = litmlp(project, "export", f"ckpt_path={checkpoint}", f"output={exported}", TRUST)
    assert result.returncode == 0, result.stderr[-3000:]
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(exported))(features), torch.from_numpy(expected), atol=1e-5)
