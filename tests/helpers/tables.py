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


SHOP_HEADER = ["age", "income", "color", "store", "bought"]


def write_shop(path: Path, count: int = 300, seed: int = 0, with_gaps: bool = True) -> Path:
    """A table as real ones come: a text column (`color`), an integer-coded category (`store`), numbers
    with gaps (`age`; `color` too). Whether a customer `bought` depends on the two categories only."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        color, store = ("red", "green", "blue")[i % 3], int(rng.integers(1, 4))
        bought = "yes" if (color == "red") != (store == 2) else "no"
        age = "" if with_gaps and i % 17 == 0 else f"{rng.normal(40, 10):.1f}"
        rows.append(
            [age, f"{rng.normal(50, 15):.2f}", "" if with_gaps and i % 23 == 0 else color, store, bought]
        )
    return write_csv(path, SHOP_HEADER, rows)
