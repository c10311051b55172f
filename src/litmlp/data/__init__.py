"""Everything about data: loading rows, splitting, scaling and batching. Knows nothing of the model.

The names below are imported on first use, so reading a table (`litmlp.data.readers` and
`litmlp.data.columns`, numpy only) does not pull in Lightning.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litmlp.data.file import FileDataModule
    from litmlp.data.loader import EpochBatchSampler, InMemoryLoader
    from litmlp.data.synthetic import SyntheticDataModule, make_spirals
    from litmlp.data.tabular import TabularDataModule, stratified_split

_WHERE = {
    "EpochBatchSampler": "loader",
    "InMemoryLoader": "loader",
    "FileDataModule": "file",
    "SyntheticDataModule": "synthetic",
    "make_spirals": "synthetic",
    "TabularDataModule": "tabular",
    "stratified_split": "tabular",
}
__all__ = [
    "EpochBatchSampler",
    "FileDataModule",
    "InMemoryLoader",
    "SyntheticDataModule",
    "TabularDataModule",
    "make_spirals",
    "stratified_split",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'litmlp.data' has no attribute '{name}'")
    return getattr(importlib.import_module(f"litmlp.data.{_WHERE[name]}"), name)
