"""Your own table: `data=file data.path=rows.csv data.target=label` (CSV, Parquet or NumPy .npz)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from litmlp.data.columns import MISSING_CHOICES, ColumnEncoder
from litmlp.data.readers import Table, class_names, read_table
from litmlp.data.tabular import TabularDataModule
from litmlp.errors import BadValueError, LitmlpError, UsageError

log = logging.getLogger(__name__)


class FileDataModule(TabularDataModule):
    """Rows from `path`; features are `features` or every column but `target`.

    Class labels may be text: they are mapped to indices in sorted order, and the mapping travels in the
    checkpoint so predictions come out as the original labels. Text feature columns (and those named in
    `categorical`) are one-hot encoded; `missing="impute"` fills missing values (see
    `litmlp.data.columns`). The encoding is fitted on the training split and travels in the checkpoint.
    `val_path` / `test_path` take those splits from their own files instead of from `val_fraction` /
    `test_fraction` of `path`.
    """

    def __init__(
        self,
        path: str,
        target: str = "label",
        features: list[str] | None = None,
        categorical: list[str] | None = None,
        missing: str = "error",
        val_path: str | None = None,
        test_path: str | None = None,
        encoding: str = "utf-8",
        **loading: Any,
    ) -> None:
        """`loading` takes the split and batching arguments of `TabularDataModule`."""
        super().__init__(**loading)
        if missing not in MISSING_CHOICES:
            raise BadValueError("missing", missing, f"choose one of {', '.join(MISSING_CHOICES)}")
        self.path = Path(path)
        self.target = target
        self.feature_columns = features or None
        self.categorical = list(categorical or [])
        self.missing = missing
        self.val_path = Path(val_path) if val_path else None
        self.test_path = Path(test_path) if test_path else None
        self.encoding = encoding  # of CSV files
        if self.val_path is not None and self.folds is not None:
            raise UsageError(
                "data.folds cuts the validation rows out of data.path; it can't be used with data.val_path"
            )
        self._tables: dict[str, Table] | None = None
        self.encoder: ColumnEncoder | None = None  # fitted on the training split, or a checkpoint's

    @property
    def source(self) -> str:
        return str(self.path)

    def _read(self) -> dict[str, Table]:
        if self._tables is None:
            paths = {"all": self.path, "val": self.val_path, "test": self.test_path}
            self._tables = {
                name: read_table(path, self.target, self.feature_columns, encoding=self.encoding)
                for name, path in paths.items()
                if path is not None
            }
            names = self._tables["all"].feature_names
            trained_on = set(self._tables["all"].labels or [])
            for table in self._tables.values():
                unknown = sorted(set(table.labels or []) - trained_on)
                if unknown:
                    raise LitmlpError(
                        f"{table.path}: class '{unknown[0]}' does not occur in {self.path}, the training "
                        "rows: the model could never predict it"
                    )
                missing = [name for name in names if name not in table.feature_names]
                if missing:
                    raise LitmlpError(f"{table.path}: feature column '{missing[0]}' not found")
        return self._tables

    def _targets(self, table: Table) -> torch.Tensor:
        assert table.labels is not None
        assert self.classes is not None
        index = {label: i for i, label in enumerate(self.classes)}
        return torch.tensor([index[label] for label in table.labels], dtype=torch.long)

    def _held_out_fractions(self) -> tuple[float, float]:
        """The fractions of `path` that go to val and test: none for a split with a file of its own."""
        return (
            0.0 if self.val_path else self.val_fraction,
            0.0 if self.test_path else self.test_fraction,
        )

    def _encode(self, table: Table) -> torch.Tensor:
        assert self.encoder is not None
        features = self.encoder.transform(table.cells, table.path, table.rows)
        for column, count in self.encoder.unseen.items():
            log.warning(
                "%s: column '%s': %d row(s) with a category not in the training split, encoded as all zeros",
                table.path,
                column,
                count,
            )
        self.encoder.unseen.clear()
        return torch.from_numpy(features)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        tables = self._read()
        main = tables["all"]
        self.classes = class_names([label for table in tables.values() for label in table.labels or []])
        targets = self._targets(main)
        if self.encoder is None:
            train_rows = self.split_rows(targets, *self._held_out_fractions())[0]
            self.encoder = ColumnEncoder.fit(
                main.cells,
                train_rows.numpy(),
                path=main.path,
                categorical=self.categorical,
                missing=self.missing,
                row_numbers=main.rows,
            )
        self.feature_names = self.encoder.feature_names
        return self._encode(main), targets

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        if self.val_path is None and self.test_path is None:
            return super().load_splits()
        features, targets = self._all_rows()
        tables = self._read()
        # The splits without a file of their own come from `path`, stratified as usual.
        train, val, test = self.split_rows(targets, *self._held_out_fractions())
        splits = {
            "train": (features[train], targets[train]),
            "val": (features[val], targets[val]),
            "test": (features[test], targets[test]),
        }
        for name in ("val", "test"):
            if name in tables:
                splits[name] = (self._encode(tables[name]), self._targets(tables[name]))
        return splits

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        assert self.encoder is not None
        return {**state, "encoder": self.encoder.state()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A checkpoint's encoding replaces the one fitted here: the rows are encoded again with it."""
        stored = state_dict.get("encoder")
        if stored is not None and (self.encoder is None or self.encoder.state() != stored):
            self.encoder = ColumnEncoder.from_state(stored)
            self.reset_rows()
        super().load_state_dict(state_dict)
