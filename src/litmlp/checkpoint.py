"""Checkpoint files: read safely (tensors and plain containers, never pickled code), written atomically."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from litmlp.errors import LitmlpError


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint with `weights_only=True`; any problem becomes one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise LitmlpError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise LitmlpError(
            f"cannot read checkpoint {path}: not a checkpoint, or it holds pickled objects that a safe load"
            " (weights_only=True) refuses"
        ) from error
    except EOFError as error:
        raise LitmlpError(f"cannot read checkpoint {path}: the file is truncated") from error
    except (zipfile.BadZipFile, RuntimeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LitmlpError(f"cannot read checkpoint {path}: {reason}") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise LitmlpError(f"{path} is not a litmlp checkpoint (no 'state_dict')")
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes a checkpoint to a temporary file, fsyncs it and renames it over the target.

    A process killed mid-write (SIGKILL, OOM killer, preemption) leaves the previous checkpoint intact
    and at worst a stray `.<name>.partial` file that nothing reads.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        with partial.open("wb") as file:
            torch.save(checkpoint, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # make the rename itself durable
        finally:
            os.close(directory)
