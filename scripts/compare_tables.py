"""litmlp's defaults against scikit-learn's MLPClassifier on small public tables, side by side.

Each table ships inside the scikit-learn package (no download). It is written to a CSV file, and litmlp is
run on it exactly as a user would: `litmlp train data=file data.path=table.csv data.target=label seed=S`,
nothing else set. The baseline is `MLPClassifier(hidden_layer_sizes=(30, 20))` (the same hidden sizes) on
standardised features, fitted on the same training rows (litmlp's stratified split, the same fractions)
and scored on the same test rows. Each side runs with seeds 0, 1, 2; the table prints mean ± std.

  python scripts/compare_tables.py [--seeds 3] [--tables iris wine] [--json out.json] [-- OVERRIDE ...]

Overrides after `--` are passed to every litmlp run (to try other settings against the same baseline).
Needs scikit-learn (the `compare` extra): `make compare` installs it and runs this.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from litmlp.data import TabularDataModule, stratified_split

TABLES: dict[str, Callable[..., Any]] = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}


def write_csv(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow([f"f{i}" for i in range(features.shape[1])] + ["label"])
        for row, label in zip(features.tolist(), labels.tolist(), strict=True):
            writer.writerow([repr(value) for value in row] + [label])


def litmlp_accuracy(table: Path, seed: int, workdir: Path, overrides: list[str]) -> tuple[float, float]:
    """Test accuracy and wall time of one default `litmlp train` run on `table`."""
    run_dir = workdir / f"{table.stem}-{seed}"
    command = [
        sys.executable,
        "-m",
        "litmlp",
        "train",
        "data=file",
        f"data.path={table}",
        "data.target=label",
        f"seed={seed}",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"litmlp failed on {table.name} (seed {seed}):\n{result.stderr[-2000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return float(metrics["test"]["test/acc"]), elapsed


def sklearn_accuracy(features: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """The baseline on litmlp's own split of the same rows (its default fractions and split seed)."""
    defaults = TabularDataModule()
    classes = {label: i for i, label in enumerate(sorted(set(labels.tolist())))}
    targets = torch.tensor([classes[label] for label in labels.tolist()])
    train, _, test = stratified_split(
        targets, defaults.val_fraction, defaults.test_fraction, defaults.split_seed
    )
    model = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(30, 20), random_state=seed))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # as a user running the defaults sees it
        model.fit(features[train.numpy()], labels[train.numpy()])
    return float(model.score(features[test.numpy()], labels[test.numpy()]))


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables", nargs="+", choices=sorted(TABLES), default=list(TABLES))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("overrides", nargs="*", help="litmlp overrides for every run (after --)")
    args = parser.parse_args()

    rows = []
    header = (
        f"{'table':<14}{'rows':>6}{'feat':>5}{'cls':>4}  {'litmlp':>13}  {'sklearn MLP':>13}  "
        f"{'gap':>6}  {'s/run':>6}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for name in args.tables:
            bunch = TABLES[name]()
            features, labels = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
            path = workdir / f"{name}.csv"
            write_csv(path, features, labels)
            ours, seconds = zip(
                *(litmlp_accuracy(path, s, workdir, args.overrides) for s in range(args.seeds)), strict=True
            )
            theirs = [sklearn_accuracy(features, labels, s) for s in range(args.seeds)]
            (ours_mean, ours_std), (theirs_mean, theirs_std) = mean_std(list(ours)), mean_std(theirs)
            row = {
                "table": name,
                "rows": len(labels),
                "features": features.shape[1],
                "classes": len(set(labels.tolist())),
                "litmlp": list(ours),
                "sklearn": theirs,
                "gap": theirs_mean - ours_mean,
                "seconds_per_run": statistics.fmean(seconds),
            }
            rows.append(row)
            print(
                f"{name:<14}{row['rows']:>6}{row['features']:>5}{row['classes']:>4}  "
                f"{ours_mean:.3f} ± {ours_std:.3f}  {theirs_mean:.3f} ± {theirs_std:.3f}  "
                f"{row['gap']:>+6.3f}  {row['seconds_per_run']:>6.1f}",
                flush=True,
            )
    worst = max(row["gap"] for row in rows)
    print(f"\nlargest gap (sklearn - litmlp): {worst:+.3f}; {args.seeds} seeds; overrides: {args.overrides}")
    if args.json:
        args.json.write_text(json.dumps({"overrides": args.overrides, "tables": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
