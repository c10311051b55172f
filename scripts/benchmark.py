"""Training throughput of litmlp against raw PyTorch and a lightning-hydra-template-style module.

All variants train the same MLP with AdamW on the same standardised default data, at the same batch size,
and validate on the same split once per epoch. An epoch's time runs from one epoch start to the next, so
it includes what each variant does per epoch (validation, metrics, checkpoints, logging). Throughput is
training samples per second, the median over the epochs after warm-up.

  (a) tutorial: per-sample Dataset + DataLoader, as in "PyTorch in one hour"
  (b) batched:  a raw loop over pre-batched tensors (the floor for this model)
  (c) lht:      a lightning-hydra-template-style LightningModule (per-sample DataLoader, torchmetrics
                called every step, logged per epoch, its default callbacks and TensorBoard)
  (d) litmlp:   `litmlp train` with the default config, every default feature on

Also: end-to-end wall time of `litmlp train` against a raw script doing the same epochs, and of
`litmlp --help`.   python scripts/benchmark.py [--json out.json] [--batch-sizes 64 128] ...
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
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
from litmlp.models import MLP
from litmlp.tasks.train import train

REPO = Path(__file__).resolve().parents[1]
LITMLP = [sys.executable, "-m", "litmlp"]
Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


def default_splits(num_samples: int) -> Splits:
    datamodule = SyntheticDataModule(num_samples=num_samples)
    return {name: datamodule.split(name) for name in ("train", "val", "test")}


def make_model(splits: Splits) -> tuple[MLP, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = MLP(splits["train"][0].shape[1], 3)
    return model, torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)


class EpochTimer(pl.Callback):
    """Epoch start times of every Lightning run in this process (the litmlp run creates its own instance)."""

    starts: ClassVar[list[float]] = []

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        EpochTimer.starts.append(time.perf_counter())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        EpochTimer.starts.append(time.perf_counter())


def throughput(starts: list[float], samples_per_epoch: int, warmup: int) -> float:
    durations = [end - start for start, end in itertools.pairwise(starts)][warmup:]
    return samples_per_epoch / statistics.median(durations)


class TutorialDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.features = features
        self.labels = labels

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[index], self.labels[index]

    def __len__(self) -> int:
        return self.labels.shape[0]


def run_tutorial(splits: Splits, batch_size: int, epochs: int) -> list[float]:
    model, optimizer = make_model(splits)
    train_loader = DataLoader(TutorialDataset(*splits["train"]), batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(TutorialDataset(*splits["val"]), batch_size=batch_size)
    starts = []
    for _ in range(epochs):
        starts.append(time.perf_counter())
        model.train()
        for features, labels in train_loader:
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
    return starts


def run_batched(splits: Splits, batch_size: int, epochs: int) -> list[float]:
    model, optimizer = make_model(splits)
    features, labels = splits["train"]
    val_features, val_labels = splits["val"]
    generator = torch.Generator().manual_seed(0)
    starts = []
    for _ in range(epochs):
        starts.append(time.perf_counter())
        order = torch.randperm(len(labels), generator=generator)
        model.train()
        for x, y in zip(features[order].split(batch_size), labels[order].split(batch_size), strict=True):
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            int((model(val_features).argmax(dim=1) == val_labels).sum())
    starts.append(time.perf_counter())
    return starts


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


def run_lht(splits: Splits, batch_size: int, epochs: int, workdir: Path) -> list[float]:
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, RichModelSummary, RichProgressBar
    from lightning.pytorch.loggers import TensorBoardLogger

    model, _ = make_model(splits)
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
        callbacks=callbacks,
        logger=TensorBoardLogger(workdir, name="lht"),
        default_root_dir=workdir,
    )
    train_loader = DataLoader(TutorialDataset(*splits["train"]), batch_size=batch_size, shuffle=True)
    val_loader = DataLoader(TutorialDataset(*splits["val"]), batch_size=batch_size)
    EpochTimer.starts = []
    trainer.fit(LHTStyleModule(model), train_loader, val_loader)
    return EpochTimer.starts


def run_litmlp(batch_size: int, epochs: int, num_samples: int, workdir: Path) -> list[float]:
    run_dir = workdir / f"litmlp_bs{batch_size}"
    cfg = compose_config(
        "train",
        [
            f"data.num_samples={num_samples}",
            f"data.batch_size={batch_size}",
            f"trainer.max_epochs={epochs}",
            "trainer=cpu",
            "test=false",
            "+callbacks.epoch_timer._target_=__main__.EpochTimer",
        ],
        run_dir,
    )
    EpochTimer.starts = []
    train(cfg)
    return EpochTimer.starts


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
    order = torch.randperm(len(y), generator=generator)
    model.train()
    for xb, yb in zip(x[order].split(128), y[order].split(128)):  # the default batch size
        loss = F.cross_entropy(model(xb), yb)
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
    torch.save(default_splits(num_samples), workdir / "splits.pt")
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
    splits = default_splits(args.num_samples)
    samples = len(splits["train"][1])
    results: dict[str, Any] = {"num_samples": args.num_samples, "train_samples": samples, "batch_sizes": {}}
    for batch_size in args.batch_sizes:
        per_epoch = {
            "tutorial": (run_tutorial(splits, batch_size, args.epochs), samples - samples % batch_size),
            "batched": (run_batched(splits, batch_size, args.epochs), samples),
            "lht": (run_lht(splits, batch_size, args.epochs, workdir), samples),
            "litmlp": (run_litmlp(batch_size, args.epochs, args.num_samples, workdir), samples),
        }
        speed = {name: throughput(starts, n, args.warmup) for name, (starts, n) in per_epoch.items()}
        results["batch_sizes"][str(batch_size)] = {
            "samples_per_s": speed,
            "d/b": speed["litmlp"] / speed["batched"],
            "d/a": speed["litmlp"] / speed["tutorial"],
            "d/c": speed["litmlp"] / speed["lht"],
        }
    if not args.no_end_to_end:
        results["end_to_end"] = end_to_end(workdir, args.num_samples, args.repeats)
    return results


def table(results: dict[str, Any]) -> str:
    lines = [
        "training throughput, samples/s (median of the epochs after warm-up;"
        f" {results['train_samples']} training rows)",
        f"{'batch':>6} {'(a) tutorial':>13} {'(b) batched':>12} {'(c) lht':>10} {'(d) litmlp':>11}"
        f" {'d/b':>6} {'d/a':>6} {'d/c':>6}",
    ]
    for batch_size, row in results["batch_sizes"].items():
        s = row["samples_per_s"]
        lines.append(
            f"{batch_size:>6} {s['tutorial']:>13,.0f} {s['batched']:>12,.0f}"
            f" {s['lht']:>10,.0f} {s['litmlp']:>11,.0f}"
            f" {row['d/b']:>6.2f} {row['d/a']:>6.2f} {row['d/c']:>6.2f}"
        )
    if "end_to_end" in results:
        e = results["end_to_end"]
        lines.append(
            f"end to end, {e['epochs']} epochs: litmlp train {e['litmlp_train_s']:.2f} s, raw script"
            f" {e['raw_script_s']:.2f} s, ratio {e['ratio']:.2f}; litmlp --help {e['help_s']:.2f} s"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=10_000)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3, help="epochs left out of the median")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeats", type=int, default=2, help="end-to-end runs per side (fastest counts)")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the subprocess timings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        results = benchmark(args, Path(workdir))
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
