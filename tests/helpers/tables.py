"""Small user tables for the data, predict, export and security tests."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

SPECIES = ("setosa", "versicolor", "virginica")


def flower_rows(count: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Four features; the species follows a non-linear rule of them."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(count, 4))
    species = np.where(
        features[:, 0] + features[:, 1] > 0.5,
        SPECIES[0],
        np.where(features[:, 2] > 0, SPECIES[2], SPECIES[1]),
    )
    return features, [str(s) for s in species]


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_flowers(path: Path, count: int = 600, seed: int = 0, with_target: bool = True) -> Path:
    features, species = flower_rows(count, seed)
    header = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    rows = [
        [f"{v:.6f}" for v in row] + ([label] if with_target else [])
        for row, label in zip(features, species, strict=True)
    ]
    return write_csv(path, [*header, "species"] if with_target else header, rows)
