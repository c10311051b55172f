"""Your own table: `data=file data.path=rows.csv data.target=label` (CSV, Parquet or NumPy .npz)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from litmlp.data.readers import Table, class_names, read_table
from litmlp.data.tabular import TabularDataModule, stratified_split
from litmlp.errors import LitmlpError


class FileDataModule(TabularDataModule):
    """Rows from `path`; features are `features` or every column but `target`.

    Class labels may be text: they are mapped to indices in sorted order, and the mapping travels in the
    checkpoint so predictions come out as the original labels. `val_path` / `test_path` take those splits
    from their own files instead of from `val_fraction` / `test_fraction` of `path`.
    """

    def __init__(
        self,
        path: str,
        target: str = "label",
        features: list[str] | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        encoding: str = "utf-8",
        **loading: Any,
    ) -> None:
        """`loading` takes the split and batching arguments of `TabularDataModule`."""
        super().__init__(**loading)
        self.path = Path(path)
        self.target = target
        self.feature_columns = features or None
        self.val_path = Path(val_path) if val_path else None
        self.test_path = Path(test_path) if test_path else None
        self.encoding = encoding  # of CSV files
        self._tables: dict[str, Table] | None = None

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
            for table in self._tables.values():
                missing = [name for name in names if name not in table.feature_names]
                if missing:
                    raise LitmlpError(f"{table.path}: feature column '{missing[0]}' not found")
        return self._tables

    def _targets(self, table: Table) -> torch.Tensor:
        assert table.labels is not None
        assert self.classes is not None
        index = {label: i for i, label in enumerate(self.classes)}
        return torch.tensor([index[label] for label in table.labels], dtype=torch.long)

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        tables = self._read()
        main = tables["all"]
        self.feature_names = main.feature_names
        self.classes = class_names([label for table in tables.values() for label in table.labels or []])
        return torch.from_numpy(main.features), self._targets(main)

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        if self.val_path is None and self.test_path is None:
            return super().load_splits()
        features, targets = self._all_rows()
        tables = self._read()
        # The splits without a file of their own come from `path`, stratified as usual.
        val_fraction = 0.0 if self.val_path else self.val_fraction
        test_fraction = 0.0 if self.test_path else self.test_fraction
        train, val, test = stratified_split(targets, val_fraction, test_fraction, self.split_seed)
        splits = {
            "train": (features[train], targets[train]),
            "val": (features[val], targets[val]),
            "test": (features[test], targets[test]),
        }
        for name in ("val", "test"):
            if name in tables:
                table = tables[name]
                columns = [table.feature_names.index(n) for n in self.feature_names or []]
                splits[name] = (torch.from_numpy(table.features[:, columns]), self._targets(table))
        return splits
