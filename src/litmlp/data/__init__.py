"""Everything about data: loading rows, splitting, scaling and batching. Knows nothing of the model."""

from litmlp.data.loader import EpochBatchSampler, InMemoryLoader
from litmlp.data.synthetic import SyntheticDataModule, make_spirals
from litmlp.data.tabular import TabularDataModule, stratified_split

__all__ = [
    "EpochBatchSampler",
    "InMemoryLoader",
    "SyntheticDataModule",
    "TabularDataModule",
    "make_spirals",
    "stratified_split",
]
