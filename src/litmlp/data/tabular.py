"""The DataModule for a feature matrix that fits in memory: split, standardise, batch.

Subclasses only say where the rows come from (`load`); everything about splits, scaling and
batching lives here, so a new dataset is one small class and one yaml file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from typing import Any

import lightning.pytorch as pl
import torch

from litmlp.data.loader import EpochBatchSampler, InMemoryLoader
from litmlp.data.readers import label_text
from litmlp.errors import BadValueError, LitmlpError, UsageError, at_least

log = logging.getLogger(__name__)


def auto_batch_size(num_rows: int) -> int:
    """The default batch size for `num_rows` training rows: a power of two from 16 to 128, at most
    `num_rows / 8`, so that even a table of a hundred rows gets several optimizer steps per epoch while a
    large one trains in batches of 128."""
    size = 16
    while size < 128 and size * 2 * 8 <= num_rows:
        size *= 2
    return size


def stratified_split(
    targets: torch.Tensor,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    folds: int | None = None,
    fold: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train/val/test row indices with every class split in the same proportions.

    With `folds`, for fold `fold` of `folds`-fold cross-validation: the test rows are the same as without
    (whatever the fold, so results compare with a run without folds); the other rows of each class are cut
    into `folds` parts of (nearly) equal size: part `fold` validates, the others train."""
    generator = torch.Generator().manual_seed(seed)
    parts: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]] = ([], [], [])
    for label in torch.unique(targets):
        rows = torch.nonzero(targets == label).flatten()
        rows = rows[torch.randperm(len(rows), generator=generator)]
        num_val = round(len(rows) * val_fraction)
        num_test = round(len(rows) * test_fraction)
        parts[2].append(rows[num_val : num_val + num_test])
        if folds is None:
            parts[1].append(rows[:num_val])
            parts[0].append(rows[num_val + num_test :])
            continue
        rest = torch.cat([rows[:num_val], rows[num_val + num_test :]])
        start, end = (round(len(rest) * part / folds) for part in (fold, fold + 1))
        parts[1].append(rest[start:end])
        parts[0].append(torch.cat([rest[:start], rest[end:]]))
    train, val, test = (torch.sort(torch.cat(p)).values for p in parts)
    return train, val, test


class TabularDataModule(pl.LightningDataModule):
    """Holds float32 features [N, F] and int64 class labels [N] in memory."""

    def __init__(
        self,
        batch_size: int | None = None,
        eval_batch_size: int | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        folds: int | None = None,
        fold: int = 0,
        shuffle_seed: int = 0,
        standardize: bool = True,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
    ) -> None:
        super().__init__()
        at_least(1, batch_size=batch_size, eval_batch_size=eval_batch_size)
        at_least(0, num_workers=num_workers)
        if not 0 < val_fraction < 1:
            raise BadValueError("val_fraction", val_fraction, "must be above 0 and below 1")
        if not 0 <= test_fraction < 1:
            raise BadValueError("test_fraction", test_fraction, "must be at least 0 and below 1")
        if val_fraction + test_fraction >= 1:
            raise UsageError(
                f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be "
                "fractions that leave rows for training"
            )
        if folds is not None:
            at_least(2, folds=folds)
            if not 0 <= fold < folds:
                raise BadValueError("fold", fold, f"must be from 0 to {folds - 1} (data.folds={folds})")
        elif fold != 0:
            raise UsageError(f"data.fold={fold} needs data.folds (the number of cross-validation folds)")
        # None: chosen from the training split's size in `setup` (`auto_batch_size`).
        self.batch_size = batch_size
        # None: the training batch size or 1,024 rows, whichever is larger. Evaluation keeps no gradients,
        # and every batch is a round of Lightning's loop: 150,000 validation rows took 147 batches of 1,024.
        self._eval_batch_size = eval_batch_size
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed
        # K-fold cross-validation: val is fold `fold` of the rows outside the test split.
        self.folds = folds
        self.fold = fold
        self.shuffle_seed = shuffle_seed
        self.standardize = standardize
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self._rows: tuple[torch.Tensor, torch.Tensor] | None = None
        self._raw_splits: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None
        self._splits: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.feature_mean: torch.Tensor | None = None
        self.feature_std: torch.Tensor | None = None
        # `load` may name the features and classes; otherwise they are numbered.
        self.feature_names: list[str] | None = None
        self.classes: list[str] | None = None
        self._fingerprint: str | None = None
        self._fingerprint_checked: str | None = None

    def load(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return all rows as (features float32 [N, F], labels int64 [N] in 0..C-1).

        It may also set `self.feature_names` and `self.classes` (the label of each class index).
        """
        raise NotImplementedError

    @property
    def eval_batch_size(self) -> int:
        """The batch size of validation, test and prediction."""
        if self._eval_batch_size is not None:
            return self._eval_batch_size
        return max(1024, self.batch_size or 0)

    def _all_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._rows is None:
            features, targets = self.load()
            if self.feature_names is None:
                self.feature_names = [f"x{i}" for i in range(features.shape[1])]
            if self.classes is None:
                self.classes = [str(i) for i in range(int(targets.max()) + 1)]
            self._rows = features, targets
        return self._rows

    def reset_rows(self) -> None:
        """Forget the loaded rows and splits (not the scaling): the next use loads them again."""
        self._rows = None
        self._raw_splits = None
        self._splits = {}
        self._fingerprint = None

    @property
    def fingerprint(self) -> str:
        """sha256 of the training rows as the model sees them before scaling (features and labels) and of
        the schema (feature and class names): equal fingerprints, equal training data."""
        if self._fingerprint is None:
            self.setup()
            assert self._raw_splits is not None
            features, targets = self._raw_splits["train"]
            digest = hashlib.sha256(json.dumps([self.feature_names, self.classes]).encode())
            digest.update(features.contiguous().numpy().data)  # the array's own bytes, not a copy
            digest.update(targets.contiguous().numpy().data)
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    @property
    def num_features(self) -> int:
        return int(self._all_rows()[0].shape[1])

    @property
    def num_classes(self) -> int:
        self._all_rows()
        assert self.classes is not None
        return len(self.classes)

    @property
    def source(self) -> str:
        """Where the rows come from, for error messages."""
        return type(self).__name__

    def load_splits(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Unscaled train/val/test rows: by default a stratified split of `load()`."""
        features, targets = self._all_rows()
        self._check_class_sizes(targets)
        rows = self.split_rows(targets, self.val_fraction, self.test_fraction)
        return {
            name: (features[r], targets[r]) for name, r in zip(("train", "val", "test"), rows, strict=True)
        }

    def split_rows(
        self, targets: torch.Tensor, val_fraction: float, test_fraction: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Train/val/test row indices of `targets`: a stratified split, or this run's fold of them."""
        if self.folds is not None:
            assert self.classes is not None
            for index, count in enumerate(torch.bincount(targets, minlength=len(self.classes)).tolist()):
                outside_test = count - round(count * test_fraction)
                if outside_test < self.folds:
                    raise LitmlpError(
                        f"{self.source}: class '{self.classes[index]}' has {outside_test} rows outside the "
                        f"test split; data.folds={self.folds} needs at least one per fold"
                    )
        return stratified_split(targets, val_fraction, test_fraction, self.split_seed, self.folds, self.fold)

    def _check_class_sizes(self, targets: torch.Tensor) -> None:
        # Each split should see every class: round(count * fraction) >= 1 for both held-out fractions.
        held_out = [self.test_fraction, self.val_fraction if self.folds is None else 0.0]
        smallest = max(math.ceil(0.5 / f) for f in held_out if f > 0) + 1 if any(held_out) else 1
        counts = torch.bincount(targets, minlength=self.num_classes)
        assert self.classes is not None
        for index, count in enumerate(counts.tolist()):
            if count < smallest:
                raise LitmlpError(
                    f"{self.source}: class '{self.classes[index]}' has {count} rows; a stratified split with "
                    f"val_fraction={self.val_fraction} and test_fraction={self.test_fraction} needs at least "
                    f"{smallest} rows per class"
                )

    def setup(self, stage: str | None = None) -> None:
        if self._raw_splits is not None:
            return
        raw = self.load_splits()
        for name, (_, targets) in raw.items():
            if len(targets) == 0:
                raise LitmlpError(
                    f"{self.source}: the {name} split is empty; use more rows or another fraction"
                )
        if self.feature_mean is None or self.feature_std is None:
            self.feature_mean, self.feature_std = self._fit_scaler(raw["train"][0])
        if self.folds is not None:
            log.info(
                "Fold %d of %d: %d training rows, %d validation rows, %d test rows (the same for every fold)",
                self.fold,
                self.folds,
                *(len(raw[name][1]) for name in ("train", "val", "test")),
            )
        if self.batch_size is None:
            self.batch_size = auto_batch_size(len(raw["train"][1]))
            log.info(
                "Batch size %d for %d training rows (data.batch_size=N sets it)",
                self.batch_size,
                len(raw["train"][1]),
            )
        self._raw_splits = raw

    def _fit_scaler(self, train_features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        num_features = train_features.shape[1]
        if not self.standardize:
            return torch.zeros(num_features), torch.ones(num_features)
        std = train_features.std(dim=0)
        # A constant column would divide by zero; leave it unscaled instead.
        return train_features.mean(dim=0), torch.where(std > 0, std, torch.ones_like(std))

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The standardised (features, labels) of the 'train', 'val' or 'test' split.

        Standardised on first use, with the statistics in force then: a checkpoint's (`load_state_dict`,
        which Lightning calls after `setup` when it evaluates a checkpoint) or this data's training split's.
        """
        self.setup()
        assert self._raw_splits is not None
        assert self.feature_mean is not None
        assert self.feature_std is not None
        if name not in self._splits:
            features, targets = self._raw_splits[name]
            self._splits[name] = ((features - self.feature_mean) / self.feature_std, targets)
        return self._splits[name]

    def _loader(self, name: str, *, train: bool) -> InMemoryLoader:
        features, targets = self.split(name)  # sets up: the batch size is chosen by then
        assert self.batch_size is not None
        trainer = self.trainer
        rank, world_size = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        sampler = EpochBatchSampler(
            len(features),
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.shuffle_seed,
            rank=rank,
            world_size=world_size,
            pad=train,
        )
        return InMemoryLoader(
            features,
            targets,
            sampler,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
        )

    def train_dataloader(self) -> InMemoryLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> InMemoryLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> InMemoryLoader:
        return self._loader("test", train=False)

    def predict_dataloader(self) -> InMemoryLoader:
        return self._loader("test", train=False)

    def state_dict(self) -> dict[str, Any]:
        # Saved in every checkpoint: evaluation, prediction and export reuse the training split's statistics,
        # the feature names and the class labels.
        self._all_rows()
        return {
            "feature_mean": self.feature_mean,
            "feature_std": self.feature_std,
            "feature_names": self.feature_names,
            "classes": self.classes,
            "fingerprint": self.fingerprint,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Reuse a checkpoint's statistics; its features and classes must be those of this data."""
        if state_dict.get("feature_names") is not None:
            self._all_rows()
            expected, found = len(state_dict["feature_names"]), self.num_features
            if expected != found:
                raise LitmlpError(
                    f"{self.source} has {found} features, the checkpoint was trained on {expected}"
                )
            # Labels are compared as read now: a checkpoint from before labels were normalised says "1.0".
            if [label_text(str(c)) for c in state_dict["classes"]] != self.classes:
                raise LitmlpError(
                    f"{self.source} has the classes {self.classes}, the checkpoint {state_dict['classes']}"
                )
        self.feature_mean = state_dict["feature_mean"]
        self.feature_std = state_dict["feature_std"]
        self._splits = {}
        stored = state_dict.get("fingerprint")
        if (
            stored and stored != self._fingerprint_checked
        ):  # once per checkpoint (Lightning may restore twice)
            self._fingerprint_checked = stored
            if stored != self.fingerprint:
                log.warning(
                    "%s: these are not the rows the checkpoint was trained on (data fingerprint %s here, "
                    "%s in the checkpoint)",
                    self.source,
                    self.fingerprint[:12],
                    stored[:12],
                )
