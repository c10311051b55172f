"""Checkpoint writes that a crash cannot leave half-done."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import AsyncCheckpointIO as LightningAsyncCheckpointIO
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning_utilities.core.apply_func import apply_to_collection

from litmlp.checkpoint import verify_digest, with_digest
from litmlp.files import replacing


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file, fsyncs it and renames it over the target, with a digest of
    its tensors (`litmlp.checkpoint.DIGEST_KEY`) that every load checks.

    A process killed mid-write (SIGKILL, OOM killer, preemption) or a full disk leaves the previous
    checkpoint intact (a full disk is an OSError naming the checkpoint) and at worst a stray
    `.<name>.<pid>.partial` file that nothing reads. Wrapped in Lightning's
    `AsyncCheckpointIO` (conf/trainer/default.yaml), the write happens in a background thread.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Through a Python file: a full disk is then an OSError (ENOSPC) behind torch's RuntimeError.
        with replacing(target, durable=True) as partial, partial.open("wb") as file:
            torch.save(with_digest(checkpoint), file)

    def load_checkpoint(self, path: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Lightning's load (resume, eval), with the content digest checked."""
        checkpoint = super().load_checkpoint(path, *args, **kwargs)
        verify_digest(checkpoint, path)
        return checkpoint


def snapshot(value: Any) -> Any:
    """A copy of a checkpoint that training cannot change: tensors cloned, containers rebuilt.

    Plain dicts, OrderedDicts, lists and tuples are walked here; anything else that holds tensors
    (dataclasses, named tuples, other mappings) by Lightning's generic `apply_to_collection`.
    """
    kind = type(value)
    if kind is torch.Tensor or kind is torch.nn.Parameter:
        return value.detach().clone()
    if kind is dict or kind is OrderedDict:
        return kind((key, snapshot(item)) for key, item in value.items())
    if kind is list or kind is tuple:
        return kind(snapshot(item) for item in value)
    if kind in (str, int, float, bool, type(None)):
        return value
    return apply_to_collection(value, torch.Tensor, lambda tensor: tensor.detach().clone())


class AsyncCheckpointIO(LightningAsyncCheckpointIO):
    """Lightning's `AsyncCheckpointIO` (the write in a background thread, errors raised at the next save
    or at teardown) with the checkpoint copied by `snapshot`. Lightning copies it with its generic
    `apply_to_collection`: most of a save's time in the training thread when profiled here."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        self._ensure_setup()
        copy = snapshot(checkpoint)

        def write() -> None:
            try:
                assert self.checkpoint_io is not None
                self.checkpoint_io.save_checkpoint(copy, path, storage_options)
            except BaseException as error:  # raised in training's thread, as Lightning's does
                self._error = error

        assert self._executor is not None
        self._executor.submit(write)
        if self._error:
            raise self._error
