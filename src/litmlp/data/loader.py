"""Batches sliced straight out of in-memory tensors, in an order that is a pure function of (seed, epoch).

A torch `DataLoader` over a per-sample `Dataset` costs a few microseconds per sample and its workers only
add inter-process copies for data that already sits in memory. Here a batch is one index gather. The
loader counts the batches it has handed out, so a checkpoint taken mid-epoch can continue at the next one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

Batch = tuple[torch.Tensor, torch.Tensor]


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A generator seeded from (seed, epoch) alone, independent of any global RNG state."""
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class EpochBatchSampler:
    """The index batches of one epoch for one rank.

    Lightning calls `set_epoch` before every training epoch (it looks for `loader.sampler.set_epoch`).
    With several ranks each takes every `world_size`-th sample of the epoch's permutation; `pad=True`
    (training) repeats samples from the start so all ranks run the same number of steps, `pad=False`
    (evaluation) leaves the shards uneven so no sample is counted twice.
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        pad: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world_size = world_size
        self.pad = pad
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _shard_size(self) -> int:
        if self.world_size == 1:
            return self.num_samples
        if self.pad:
            return math.ceil(self.num_samples / self.world_size)
        return len(range(self.rank, self.num_samples, self.world_size))

    def __len__(self) -> int:
        size = self._shard_size()
        return size // self.batch_size if self.drop_last else math.ceil(size / self.batch_size)

    def batches(self) -> list[torch.Tensor]:
        if self.shuffle:
            order = torch.randperm(self.num_samples, generator=epoch_generator(self.seed, self.epoch))
        else:
            order = torch.arange(self.num_samples)
        if self.world_size > 1:
            if self.pad:
                total = self._shard_size() * self.world_size
                order = torch.cat([order, order[: total - self.num_samples]])
            order = order[self.rank :: self.world_size]
        batches = list(torch.split(order, self.batch_size))
        return batches[: len(self)]


class _BatchDataset(Dataset[Batch]):
    """Lets DataLoader workers fetch whole batches by index tensor (only used when num_workers > 0)."""

    def __init__(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        self.features = features
        self.targets = targets

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: torch.Tensor) -> Batch:
        return self.features[index], self.targets[index]


class _MutableSampler:
    """The batch list a persistent DataLoader draws from; replaced at the start of each epoch."""

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class InMemoryLoader:
    """Iterates the batches of `sampler` over `features`/`targets`; stateful for mid-epoch resume."""

    def __init__(
        self,
        features: torch.Tensor,
        targets: torch.Tensor,
        sampler: EpochBatchSampler,
        *,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ) -> None:
        self.features = features
        self.targets = targets
        # Lightning looks up `sampler` (to call set_epoch) and `batch_sampler` on any loader.
        self.sampler = sampler
        self.batch_sampler = None
        self.num_workers = num_workers
        self.pin_memory = pin_memory and torch.cuda.is_available()
        self.persistent_workers = persistent_workers and num_workers > 0
        self._batches_done = 0
        self._resume_at = 0
        self._worker_sampler = _MutableSampler()
        self._worker_loader: DataLoader[Batch] | None = None

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[Batch]:
        batches = self.sampler.batches()[self._resume_at :]
        self._batches_done = self._resume_at
        self._resume_at = 0
        for batch in self._fetch(batches):
            self._batches_done += 1
            yield batch

    def _fetch(self, batches: list[torch.Tensor]) -> Iterator[Batch]:
        if self.num_workers == 0:
            for index in batches:
                x, y = self.features[index], self.targets[index]
                yield (x.pin_memory(), y.pin_memory()) if self.pin_memory else (x, y)
            return
        self._worker_sampler.batches = batches
        if self._worker_loader is None or not self.persistent_workers:
            self._worker_loader = DataLoader(
                _BatchDataset(self.features, self.targets),
                sampler=self._worker_sampler,
                batch_size=None,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                persistent_workers=self.persistent_workers,
            )
        yield from self._worker_loader

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.sampler.epoch, "batches_done": self._batches_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sampler.set_epoch(int(state["epoch"]))
        self._resume_at = int(state["batches_done"])
