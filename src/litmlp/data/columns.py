"""From a table's raw columns to the model's float features: numbers, categories, missing values.

A `ColumnEncoder` is fitted on the training split only and travels in the checkpoint as plain values, so
evaluation, prediction and export encode new rows exactly as training did:

- a numeric column is one feature;
- a categorical column (text, or named in `data.categorical`) is one 0/1 feature per category seen in the
  training split; a category not seen there is encoded as all zeros and counted in a warning;
- with `missing="impute"`, a missing number is the training split's median, and a column that had missing
  values in the training split gets a 0/1 `<name>_missing` feature; a missing category is a category of its
  own (`<name>=<missing>`). With `missing="error"` (the default) a missing value is refused.

Numpy only (no torch, no Lightning).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from litmlp.errors import LitmlpError

# Text that means "no value" (pandas' defaults), in a CSV cell or a text column.
MISSING_TEXT = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>"}
    | {"N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
MISSING_CATEGORY = "<missing>"
MISSING_CHOICES = ("error", "impute")
# A text column with more distinct values than this in the training split is an identifier or free text.
MAX_CATEGORIES = 200
# A column whose non-missing values are at least this fraction numbers is numeric with a few bad cells.
NUMERIC_SHARE = 0.9
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass
class Column:
    """How one input column becomes features."""

    name: str
    categories: list[str] | None = None  # None: a numeric column
    fill: float | None = None  # the training median, for a missing number (missing="impute")
    indicator: bool = False  # a `<name>_missing` feature (numeric) or a `<name>=<missing>` one (categorical)

    def feature_names(self) -> list[str]:
        if self.categories is None:
            return [self.name, *([f"{self.name}_missing"] if self.indicator else [])]
        return [f"{self.name}={c}" for c in self.categories] + (
            [f"{self.name}={MISSING_CATEGORY}"] if self.indicator else []
        )


@dataclass
class Cells:
    """One column's raw values: numbers (float64, NaN where missing) or texts (None where missing)."""

    numbers: np.ndarray | None = None
    texts: list[str | None] | None = None

    @classmethod
    def from_texts(cls, values: Iterable[str]) -> Cells:
        return cls(texts=[None if v.strip() in MISSING_TEXT else v.strip() for v in values])

    def __len__(self) -> int:
        return len(self.numbers) if self.numbers is not None else len(self.texts or [])

    def missing(self) -> np.ndarray:
        if self.numbers is not None:
            return np.isnan(self.numbers)
        return np.array([t is None for t in self.texts or []], dtype=bool)

    def take(self, rows: np.ndarray) -> Cells:
        if self.numbers is not None:
            return Cells(numbers=self.numbers[rows])
        texts = self.texts or []
        return Cells(texts=[texts[i] for i in rows.tolist()])


def _number(text: str) -> float | None:
    if "_" in text:  # float() reads "1_000" as 1000: not how a table writes a number
        return None
    try:
        return float(text)
    except ValueError:
        return None


_INTEGER = re.compile(r"[+-]?(\d+)(\.0*)?")


def category_text(value: str) -> str:
    """A category's canonical text, the same whether a cell was read as text or as a number: an integer
    is its digits (`1`, `1.0`, `01` and `+1` are `1`; exact at any size), another number is Python's
    shortest form (`2.50` is `2.5`), text stays as it is."""
    integer = _INTEGER.fullmatch(value)
    if integer:
        digits = integer.group(1).lstrip("0") or "0"
        return f"-{digits}" if value.startswith("-") and digits != "0" else digits
    number = _number(value)
    if number is not None and math.isfinite(number):
        # A whole number is its integer's digits: repr(1e16) is '1e+16', which would come back here.
        return category_text(str(int(number))) if number == int(number) else repr(number)
    return value


@dataclass
class ColumnEncoder:
    columns: list[Column]
    missing: str = "error"
    # Rows per column whose category was not seen in training (encoded as all zeros), since last cleared.
    unseen: Counter[str] = field(default_factory=Counter)

    @property
    def feature_names(self) -> list[str]:
        return [name for column in self.columns for name in column.feature_names()]

    @property
    def input_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def state(self) -> dict[str, Any]:
        return {"missing": self.missing, "columns": [asdict(c) for c in self.columns]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ColumnEncoder:
        return cls([Column(**c) for c in state["columns"]], missing=state["missing"])

    @classmethod
    def fit(
        cls,
        cells: dict[str, Cells],
        train_rows: np.ndarray,
        *,
        path: Path,
        categorical: Sequence[str] = (),
        missing: str = "error",
        row_numbers: np.ndarray | None = None,
    ) -> ColumnEncoder:
        """Decide each column's kind from all its rows, its categories and medians from `train_rows`.
        (`missing="error"`: a missing value is refused when rows are encoded, by `transform`.)"""
        for name in categorical:
            if name not in cells:
                raise LitmlpError(f"data.categorical: '{name}' is not a feature column of {path}")
        numbers = (
            row_numbers if row_numbers is not None else np.arange(1, len(next(iter(cells.values()))) + 1)
        )
        columns = []
        for name, values in cells.items():
            if name in categorical or (values.texts is not None and not _mostly_numbers(values)):
                columns.append(_fit_categories(name, values.take(train_rows), path))
            else:
                column = _as_numbers(values, name, path, numbers)  # refuses a stray text cell, naming its row
                columns.append(_fit_numbers(name, column[train_rows], impute=missing == "impute"))
        return cls(columns, missing=missing)

    def transform(
        self,
        cells: dict[str, Cells],
        path: Path,
        row_numbers: np.ndarray | None = None,
        at_prediction: bool = False,
    ) -> np.ndarray:
        """float32 [rows, features]; unseen categories are counted in `self.unseen`."""
        length = len(next(iter(cells.values()))) if cells else 0
        numbers = row_numbers if row_numbers is not None else np.arange(1, length + 1)
        if self.missing == "error":
            columns = {c.name: cells[c.name] for c in self.columns}
            _refuse_missing(columns, path, numbers, trained=at_prediction)
        blocks = []
        for column in self.columns:
            values = cells[column.name]
            if column.categories is None:
                blocks.append(self._numbers(column, values, path, numbers))
            else:
                blocks.append(self._one_hot(column, values))
        return (
            np.concatenate(blocks, axis=1).astype(np.float32) if blocks else np.zeros((length, 0), np.float32)
        )

    def _numbers(self, column: Column, values: Cells, path: Path, numbers: np.ndarray) -> np.ndarray:
        data = _as_numbers(values, column.name, path, numbers)
        missing = np.isnan(data)
        if missing.any():  # only with missing="impute": "error" refused them above
            data = np.where(missing, column.fill if column.fill is not None else 0.0, data)
        blocks = [data[:, None]]
        if column.indicator:
            blocks.append(missing[:, None].astype(np.float64))
        return np.concatenate(blocks, axis=1)

    def _one_hot(self, column: Column, values: Cells) -> np.ndarray:
        assert column.categories is not None
        slots = list(column.categories) + ([MISSING_CATEGORY] if column.indicator else [])
        index = {c: i for i, c in enumerate(slots)}
        texts = _as_texts(values)
        out = np.zeros((len(texts), len(slots)))
        for row, text in enumerate(texts):
            slot = index.get(MISSING_CATEGORY if text is None else category_text(text))
            if slot is None:
                self.unseen[column.name] += 1
            else:
                out[row, slot] = 1.0
        return out


def _as_texts(values: Cells) -> list[str | None]:
    if values.texts is not None:
        return values.texts
    assert values.numbers is not None
    return [None if math.isnan(v) else repr(float(v)) for v in values.numbers.tolist()]


def _mostly_numbers(values: Cells) -> bool:
    present = [t for t in values.texts or [] if t is not None]
    if not present:
        return True
    numeric = sum(_number(t) is not None for t in present)
    return numeric >= NUMERIC_SHARE * len(present)


def _as_numbers(values: Cells, name: str, path: Path, numbers: np.ndarray) -> np.ndarray:
    """float64 with NaN where missing; a text that is no number or an infinite value is refused."""
    if values.numbers is not None:
        data = values.numbers.astype(np.float64)
    else:
        data = np.empty(len(values))
        for row, text in enumerate(values.texts or []):
            if text is None:
                data[row] = np.nan
                continue
            number = _number(text)
            if number is None or math.isnan(number):
                raise LitmlpError(
                    f"{path}: column '{name}' row {numbers[row]}: '{text}' is not a number (a column of "
                    f"categories is named in data.categorical)"
                )
            data[row] = number
    bad = np.abs(data) > FLOAT32_MAX  # infinities included; NaN (missing) compares False
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise LitmlpError(
            f"{path}: column '{name}' row {numbers[row]}: {data[row]} is not a finite float32 number"
        )
    return data


def _fit_numbers(name: str, train: np.ndarray, *, impute: bool) -> Column:
    """With imputation, every numeric column keeps its training median (a value may be missing later,
    at prediction), and one that had missing values in training gets its indicator feature."""
    if not impute:
        return Column(name)
    missing = np.isnan(train)
    present = train[~missing]
    fill = float(np.median(present)) if present.size else 0.0
    return Column(name, fill=fill, indicator=bool(missing.any()))


def _fit_categories(name: str, train: Cells, path: Path) -> Column:
    texts = _as_texts(train)
    present = sorted({category_text(t) for t in texts if t is not None})
    if len(present) > MAX_CATEGORIES:
        raise LitmlpError(
            f"{path}: column '{name}' has {len(present)} distinct text values in the training split: an "
            f"identifier or free text, not a category (at most {MAX_CATEGORIES}); leave it out with "
            "data.features=[...]"
        )
    return Column(name, categories=present, indicator=any(t is None for t in texts))


def _refuse_missing(cells: dict[str, Cells], path: Path, numbers: np.ndarray, trained: bool = False) -> None:
    counts = {name: values.missing() for name, values in cells.items()}
    found = {name: mask for name, mask in counts.items() if mask.any()}
    if not found:
        return
    listed = ", ".join(
        f"'{name}' ({_rows(int(mask.sum()))}, the first is row {numbers[int(np.flatnonzero(mask)[0])]})"
        for name, mask in found.items()
    )
    remedy = (
        "the checkpoint was trained with data.missing=error; retrain with data.missing=impute to accept them"
        if trained
        else "set data.missing=impute to fill them (numbers: the training median; categories: a category "
        "of their own)"
    )
    raise LitmlpError(f"{path}: missing values in column {listed}; {remedy}")


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"
