"""Where a litmlp training run's time goes, against raw PyTorch and Lightning's own floor.

Every variant trains the same MLP with AdamW on the same standardised default data at the same batch size,
and validates on the same split once per epoch:

  (a) tutorial: per-sample Dataset + DataLoader, as in "PyTorch in one hour"
  (b) raw:      a raw loop over in-memory tensors, one gather per batch (the floor for this model)
  (c) lht:      a lightning-hydra-template-style LightningModule (per-sample DataLoader, torchmetrics
                called every step, logged per epoch, its default callbacks and TensorBoard)
  (d) litmlp:   `litmlp train` with the default config, every default feature on
  (e) bare:     a bare Lightning Trainer (no callbacks, no logger, no progress bar, no checkpoints) over
                litmlp's in-memory batches: what Lightning's loop costs with nothing of ours around it

Cost model: each variant runs fits of 2 and 12 epochs of 2 steps, half and all the training batches
(`--repeats` times, the variants taking turns); its wall time is fitted as
start-up + epochs x per-epoch + steps x per-step  (see `fit_cost_model`). Throughput is the model's for a
full epoch.

`--ladder`: samples/s at 10k and 1M rows x batch 128, 1024, 8192 (3 epochs each, median epoch after the
first). Also: time to the first training step of `litmlp train` against a raw script importing only torch,
the end-to-end time of `litmlp train` against a raw script, and `litmlp --help`.

    python scripts/benchmark.py [--json out.json] [--ladder] [--batch-sizes 128] ...
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from litmlp.config import compose_config
from litmlp.data import SyntheticDataModule
from litmlp.data.loader import EpochBatchSampler, InMemoryLoader
from litmlp.models import MLP
from litmlp.tasks.train import train

LITMLP = [sys.executable, "-m", "litmlp"]
VARIANTS = {"tutorial": "a", "raw": "b", "lht": "c", "litmlp": "d", "bare": "e"}
Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


@dataclass
class Data:
    num_samples: int
    splits: Splits

    @classmethod
    def default(cls, num_samples: int) -> Data:
        """The default data's splits, as `litmlp train data.num_samples=N` makes them."""
        datamodule = SyntheticDataModule(num_samples=num_samples)
        return cls(num_samples, {name: datamodule.split(name) for name in ("train", "val", "test")})

    @property
    def rows(self) -> int:
        return len(self.splits["train"][1])

    def steps(self, batch_size: int) -> int:
        return -(-self.rows // batch_size)


@dataclass
class Run:
    seconds: float  # the whole call: set-up, every epoch, tear-down
    epochs: int
    steps: int
    epoch_starts: list[float]  # and the end of the last epoch

    def epoch_seconds(self) -> list[float]:
        return [end - start for start, end in itertools.pairwise(self.epoch_starts)]


def make_model(data: Data) -> tuple[MLP, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = MLP(data.splits["train"][0].shape[1], 3)
    return model, torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)


class EpochTimer(pl.Callback):
    """Epoch start times of every Lightning run in this process (the litmlp run creates its own instance)."""

    starts: ClassVar[list[float]] = []
    steps: ClassVar[int] = 0

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        EpochTimer.starts.append(time.perf_counter())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        EpochTimer.starts.append(time.perf_counter())
        EpochTimer.steps = trainer.global_step


def timed_fit(fit: Callable[[], object]) -> Run:
    EpochTimer.starts, EpochTimer.steps = [], 0
    start = time.perf_counter()
    fit()
    seconds = time.perf_counter() - start
    return Run(seconds, len(EpochTimer.starts) - 1, EpochTimer.steps, EpochTimer.starts)


class TutorialDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features = features
        self.labels = labels

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]

    def __len__(self) -> int:
        return self.labels.shape[0]


def run_tutorial(data: Data, batch_size: int, epochs: int, steps: int, workdir: Path) -> Run:
    start = time.perf_counter()
    model, optimizer = make_model(data)
    train_loader = DataLoader(TutorialDataset(*data.splits["train"]), batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(TutorialDataset(*data.splits["val"]), batch_size=batch_size)
    starts = []
    for _ in range(epochs):
        starts.append(time.perf_counter())
        model.train()
        for features, labels in itertools.islice(train_loader, steps):
            loss = F.cross_entropy(model(features), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for features, labels in val_loader:
                correct += int((model(features).argmax(dim=1) == labels).sum())
    starts.append(time.perf_counter())
    return Run(starts[-1] - start, epochs, epochs * steps, starts)


def run_raw(data: Data, batch_size: int, epochs: int, steps: int, workdir: Path) -> Run:
    start = time.perf_counter()
    model, optimizer = make_model(data)
    features, labels = data.splits["train"]
    val_features, val_labels = data.splits["val"]
    generator = torch.Generator().manual_seed(0)
    starts = []
    for _ in range(epochs):
        starts.append(time.perf_counter())
        model.train()
        for index in torch.randperm(len(labels), generator=generator).split(batch_size)[:steps]:
            loss = F.cross_entropy(model(features[index]), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            int((model(val_features).argmax(dim=1) == val_labels).sum())
    starts.append(time.perf_counter())
    return Run(starts[-1] - start, epochs, epochs * steps, starts)


class LHTStyleModule(pl.LightningModule):
    """The shape of lightning-hydra-template's MNISTLitModule: metrics updated and logged every step."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net
        self.criterion = torch.nn.CrossEntropyLoss()
        self.train_acc, self.val_acc = MulticlassAccuracy(3), MulticlassAccuracy(3)
        self.train_loss, self.val_loss = MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()

    def model_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        x, y = batch
        logits = self.net(x)
        return self.criterion(logits, y), logits.argmax(dim=1), y

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss, preds, targets = self.model_step(batch)
        self.train_loss(loss)
        self.train_acc(preds, targets)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        loss, preds, targets = self.model_step(batch)
        self.val_loss(loss)
        self.val_acc(preds, targets)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=3e-3, weight_decay=0.01)


def run_lht(data: Data, batch_size: int, epochs: int, steps: int, workdir: Path) -> Run:
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichModelSummary, RichProgressBar
    from lightning.pytorch.loggers import TensorBoardLogger

    def fit() -> None:
        model, _ = make_model(data)
        callbacks = [
            ModelCheckpoint(dirpath=workdir / "lht", monitor="val/acc", mode="max", save_last=True),
            EarlyStopping(monitor="val/acc", mode="max", patience=100),
            RichModelSummary(),
            RichProgressBar(),
            EpochTimer(),
        ]
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=epochs,
            limit_train_batches=steps,
            callbacks=callbacks,
            logger=TensorBoardLogger(workdir, name="lht"),
            default_root_dir=workdir,
        )
        train_loader = DataLoader(TutorialDataset(*data.splits["train"]), batch_size=batch_size, shuffle=True)
        val_loader = DataLoader(TutorialDataset(*data.splits["val"]), batch_size=batch_size)
        trainer.fit(LHTStyleModule(model), train_loader, val_loader)

    return timed_fit(fit)


class BareModule(pl.LightningModule):
    """The model, its loss and optimizer, and a validation step as cheap as the raw loop's."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        int((self.net(x).argmax(dim=1) == y).sum())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=3e-3, weight_decay=0.01)


def run_bare(data: Data, batch_size: int, epochs: int, steps: int, workdir: Path) -> Run:
    def loader(name: str, size: int, shuffle: bool) -> InMemoryLoader:
        features, labels = data.splits[name]
        return InMemoryLoader(features, labels, EpochBatchSampler(len(labels), size, shuffle=shuffle))

    def fit() -> None:
        model, _ = make_model(data)
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=1,
            max_epochs=epochs,
            limit_train_batches=steps,
            callbacks=[EpochTimer()],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=workdir,
        )
        # litmlp's batch sizes: `batch_size` for training, the larger of it and 1,024 for validation.
        val = loader("val", max(1024, batch_size), False)
        trainer.fit(BareModule(model), loader("train", batch_size, True), val)

    return timed_fit(fit)


def run_litmlp(data: Data, batch_size: int, epochs: int, steps: int, workdir: Path) -> Run:
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    overrides = [
        f"data.num_samples={data.num_samples}",
        f"data.batch_size={batch_size}",
        f"trainer.max_epochs={epochs}",
        "trainer=cpu",
        "test=false",
        "+callbacks.epoch_timer._target_=__main__.EpochTimer",
    ]
    if steps < data.steps(batch_size):
        overrides.append(f"trainer.limit_train_batches={steps}")
    cfg = compose_config("train", overrides, run_dir)
    return timed_fit(lambda: train(cfg))


RUNNERS: dict[str, Callable[[Data, int, int, int, Path], Run]] = {
    "tutorial": run_tutorial,
    "raw": run_raw,
    "lht": run_lht,
    "litmlp": run_litmlp,
    "bare": run_bare,
}


def fit_cost_model(runs: list[Run]) -> dict[str, Any]:
    """seconds = start_up + epochs x per_epoch + steps x per_step, fitted to runs of different lengths.

    Short bursts of other work on the machine make single runs noisy, so the terms come from medians:
    an epoch of k steps takes the median of all such epochs but each run's first (warm-up); a line through
    those medians over the values of k gives per_epoch (its intercept) and per_step (its slope); start_up
    is the median over the runs of what their epochs leave of their wall time (set-up, warm-up, tear-down).
    """
    durations: dict[int, list[float]] = {}
    for run in runs:
        durations.setdefault(run.steps // run.epochs, []).extend(run.epoch_seconds()[1:])
    levels = sorted(durations)
    medians = [statistics.median(durations[k]) for k in levels]
    design = torch.tensor([[1.0, k] for k in levels], dtype=torch.float64)
    target = torch.tensor([[m] for m in medians], dtype=torch.float64)
    per_epoch, per_step = torch.linalg.lstsq(design, target).solution.flatten().tolist()
    start_up = statistics.median(run.seconds - run.epochs * per_epoch - run.steps * per_step for run in runs)
    return {
        "start_up_s": start_up,
        "per_epoch_s": per_epoch,
        "per_step_s": per_step,
        # How far the epoch medians are from the line (linearity in steps), against a full epoch.
        "worst_residual": max(
            abs(m - (per_epoch + k * per_step)) / medians[-1] for k, m in zip(levels, medians, strict=True)
        ),
        "epoch_medians_s": dict(zip(levels, medians, strict=True)),
        "runs": [{"epochs": r.epochs, "steps": r.steps, "seconds": r.seconds} for r in runs],
    }


def cost_model(data: Data, batch_size: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    full = data.steps(batch_size)
    # Epochs of 2 steps, not 1: litmlp before commit 212cd60 read `trainer.limit_train_batches=1` as 1.0
    # (every batch), and this benchmark also times older checkouts (PYTHONPATH=<checkout>/src).
    lengths = [(epochs, steps) for epochs in (2, 12) for steps in (min(2, full), max(1, full // 2), full)]
    runs: dict[str, list[Run]] = {name: [] for name in args.variants}
    for _ in range(args.repeats):  # in turns, so a slow spell of the machine hits every variant alike
        for (epochs, steps), name in itertools.product(lengths, args.variants):
            runs[name].append(RUNNERS[name](data, batch_size, epochs, steps, workdir))
    variants = {}
    for name in args.variants:
        fit = fit_cost_model(runs[name])
        epoch_s = fit["per_epoch_s"] + full * fit["per_step_s"]
        variants[name] = {**fit, "epoch_s": epoch_s, "samples_per_s": data.rows / epoch_s}
    return {"batch_size": batch_size, "steps_per_epoch": full, "variants": variants}


def ratios(variants: dict[str, dict[str, float]], key: str) -> dict[str, float]:
    """litmlp over each other variant, for the time `key` (>1: litmlp is slower) or samples/s."""
    ours = variants["litmlp"][key]
    return {name: ours / values[key] for name, values in variants.items() if name != "litmlp"}


def ladder(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    rows = []
    for num_samples in args.ladder_rows:
        data = Data.default(num_samples)
        for batch_size in args.ladder_batch_sizes:
            speed = {}
            for name in args.variants:
                run = RUNNERS[name](data, batch_size, 3, data.steps(batch_size), workdir)
                speed[name] = data.rows / statistics.median(run.epoch_seconds()[1:])
            rows.append({"num_samples": num_samples, "batch_size": batch_size, "samples_per_s": speed})
            print(ladder_row(rows[-1]), flush=True)
    return rows


# Time to the first training step, in fresh processes. A callback (on PYTHONPATH for the litmlp run) prints
# the wall-clock time when fitting starts and when the first step has run, then ends the process.
FIRST_STEP = """
import os, time
import lightning.pytorch as pl

class FirstStep(pl.Callback):
    def setup(self, trainer, pl_module, stage):
        print("fit", time.time(), flush=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        print("step", time.time(), flush=True)
        os._exit(0)
"""
RAW_FIRST_STEP = """
import time, sys
import torch
import torch.nn.functional as F
print("imported", time.time(), flush=True)
splits = torch.load("splits.pt")
x, y = splits["train"]
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(50, 30), torch.nn.ReLU(), torch.nn.Linear(30, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3)
)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
index = torch.randperm(len(y))[:128]
loss = F.cross_entropy(model(x[index]), y[index])
optimizer.zero_grad()
loss.backward()
optimizer.step()
print("step", time.time(), flush=True)
"""


def marks(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> dict[str, float]:
    """Seconds from launching `command` to each `<mark> <time>` line it prints."""
    launched = time.time()
    output = subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout
    found = {}
    for line in output.splitlines():
        name, _, value = line.partition(" ")
        if name in ("imported", "fit", "step"):
            found[name] = float(value) - launched
    return found


def import_seconds(module: str, cwd: Path) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    output = subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True, capture_output=True).stdout
    return float(output)


def first_step(workdir: Path, repeats: int) -> dict[str, float]:
    (workdir / "first_step.py").write_text(textwrap.dedent(FIRST_STEP))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir), os.environ.get("PYTHONPATH", "")])}
    litmlp = [*LITMLP, "train", "+callbacks.first_step._target_=first_step.FirstStep", "test=false"]
    results: dict[str, list[float]] = {}
    for _ in range(repeats):
        found = {
            "raw_s": marks([sys.executable, "-c", RAW_FIRST_STEP], workdir)["step"],
            **{f"litmlp_{k}_s": v for k, v in marks(litmlp, workdir, env).items()},
            "import_torch_s": import_seconds("torch", workdir),
            "import_lightning_s": import_seconds("lightning.pytorch", workdir),
            "import_litmlp_train_s": import_seconds("litmlp.tasks.train", workdir),
            "import_hydra_s": import_seconds("hydra", workdir),
        }
        for key, value in found.items():
            results.setdefault(key, []).append(value)
    return {key: min(values) for key, values in results.items()}


# The raw side of the end-to-end comparison: plain torch, the same splits (read from a file), the same MLP.
RAW_SCRIPT = """
import sys
import torch
import torch.nn.functional as F
epochs = int(sys.argv[1])
splits = torch.load("splits.pt")
(x, y), (xv, yv), (xt, yt) = (splits[name] for name in ("train", "val", "test"))
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(50, 30), torch.nn.ReLU(), torch.nn.Linear(30, 20), torch.nn.ReLU(), torch.nn.Linear(20, 3)
)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
generator = torch.Generator().manual_seed(0)
for epoch in range(epochs):
    model.train()
    for index in torch.randperm(len(y), generator=generator).split(128):  # the default batch size
        loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        val_acc = (model(xv).argmax(1) == yv).float().mean().item()
    torch.save(model.state_dict(), "raw.pt")
with torch.no_grad():
    print("test acc", (model(xt).argmax(1) == yt).float().mean().item())
"""


def wall_time(command: list[str], cwd: Path, repeats: int) -> float:
    """The fastest of `repeats` runs: the one least disturbed by whatever else the machine does."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def end_to_end(workdir: Path, num_samples: int, repeats: int) -> dict[str, float]:
    """`litmlp train` (default config) against a raw script training as many epochs on the same splits."""
    litmlp_seconds = wall_time([*LITMLP, "train", f"data.num_samples={num_samples}"], workdir, repeats)
    run = sorted((workdir / "logs" / "train" / "runs").iterdir())[-1]
    epochs = json.loads((run / "metrics.json").read_text())["epochs_trained"]
    raw_seconds = wall_time([sys.executable, "-c", RAW_SCRIPT, str(epochs)], workdir, repeats)
    return {
        "epochs": epochs,
        "litmlp_train_s": litmlp_seconds,
        "raw_script_s": raw_seconds,
        "ratio": litmlp_seconds / raw_seconds,
        "help_s": wall_time([*LITMLP, "--help"], workdir, 3),
    }


def benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    data = Data.default(args.num_samples)
    results: dict[str, Any] = {
        "num_samples": args.num_samples,
        "train_rows": data.rows,
        "torch": torch.__version__,
        "lightning": pl.__version__,
        "cost_model": [],
    }
    for batch_size in args.batch_sizes:
        model = cost_model(data, batch_size, args, workdir)
        if {"litmlp", "bare", "raw"} <= set(args.variants):
            model["litmlp_over"] = {
                key: ratios(model["variants"], key) for key in ("start_up_s", "per_epoch_s", "per_step_s")
            }
        results["cost_model"].append(model)
        print(cost_table(model, data.rows), flush=True)
    if args.ladder:
        results["ladder"] = ladder(args, workdir)
    if not args.no_subprocess:
        torch.save(data.splits, workdir / "splits.pt")
        results["first_step"] = first_step(workdir, args.repeats)
        results["end_to_end"] = end_to_end(workdir, args.num_samples, args.repeats)
        print(subprocess_lines(results), flush=True)
    return results


def cost_table(model: dict[str, Any], rows: int) -> str:
    lines = [
        f"cost model at batch {model['batch_size']} ({rows} training rows, {model['steps_per_epoch']} steps"
        " per epoch): seconds = start-up + epochs x per-epoch + steps x per-step",
        f"{'variant':<14}{'start-up ms':>12}{'per-epoch ms':>13}{'per-step us':>12}{'samples/s':>11}"
        f"{'line fit':>10}",
    ]
    for name, fit in model["variants"].items():
        lines.append(
            f"({VARIANTS[name]}) {name:<10}{fit['start_up_s'] * 1e3:>12.0f}{fit['per_epoch_s'] * 1e3:>13.1f}"
            f"{fit['per_step_s'] * 1e6:>12.0f}{fit['samples_per_s']:>11,.0f}{fit['worst_residual']:>10.1%}"
        )
    if "litmlp_over" in model:
        over = model["litmlp_over"]
        speed = ratios(model["variants"], "samples_per_s")
        for other in ("bare", "raw"):
            lines.append(
                f"litmlp/{other:<6} start-up {over['start_up_s'][other]:.2f}x, per-epoch"
                f" {over['per_epoch_s'][other]:.2f}x, per-step {over['per_step_s'][other]:.2f}x;"
                f" samples/s {speed[other]:.2f}x"
            )
        extra = model["variants"]["litmlp"]["per_epoch_s"] - model["variants"]["bare"]["per_epoch_s"]
        lines.append(f"litmlp's per-epoch features cost {extra * 1e3:.1f} ms over the bare Trainer's epoch")
    return "\n".join(lines)


def ladder_row(row: dict[str, Any]) -> str:
    speed = row["samples_per_s"]
    cells = "".join(f"{speed.get(name, float('nan')):>13,.0f}" for name in VARIANTS)
    d = speed.get("litmlp", float("nan"))
    return (
        f"{row['num_samples']:>9,} {row['batch_size']:>6}{cells}"
        f"{d / speed.get('raw', float('nan')):>7.2f}{d / speed.get('bare', float('nan')):>7.2f}"
    )


def ladder_table(rows: list[dict[str, Any]]) -> str:
    names = "".join(f"{f'({letter}) {name}':>13}" for name, letter in VARIANTS.items())
    header = f"{'rows':>9} {'batch':>6}{names}{'d/b':>7}{'d/e':>7}"
    header = f"samples/s, median epoch after the first of 3\n{header}"
    return "\n".join([header, *map(ladder_row, rows)])


def subprocess_lines(results: dict[str, Any]) -> str:
    f, e = results["first_step"], results["end_to_end"]
    litmlp_imports = f["import_litmlp_train_s"] - f["import_lightning_s"]
    return "\n".join(
        [
            f"time to first step: litmlp train {f['litmlp_step_s']:.2f} s (fit starts at"
            f" {f['litmlp_fit_s']:.2f} s), raw script {f['raw_s']:.2f} s;"
            f" imports: torch {f['import_torch_s']:.2f} s, Lightning +"
            f"{f['import_lightning_s'] - f['import_torch_s']:.2f} s, litmlp's train +{litmlp_imports:.2f} s"
            f" (hydra alone {f['import_hydra_s']:.2f} s)",
            f"end to end, {e['epochs']} epochs: litmlp train {e['litmlp_train_s']:.2f} s, raw script"
            f" {e['raw_script_s']:.2f} s, ratio {e['ratio']:.2f}; litmlp --help {e['help_s']:.2f} s",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[128], help="cost models (none: skip)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=3, help="runs of each length (the fastest counts)")
    parser.add_argument("--ladder", action="store_true", help="also samples/s at more rows and batch sizes")
    parser.add_argument("--ladder-rows", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--ladder-batch-sizes", type=int, nargs="+", default=[128, 1024, 8192])
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads of the in-process variants (0: torch's default)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-subprocess", action="store_true", help="skip first-step and end-to-end timings")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    gc.freeze()  # as `litmlp train` does once its imports are done (litmlp.cli): every variant runs so
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        results = benchmark(args, Path(workdir))
    if "ladder" in results:
        print(ladder_table(results["ladder"]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
