"""Checkpoint writes that a crash cannot leave half-done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

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
