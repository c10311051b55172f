"""What a litmlp checkpoint holds beyond Lightning's, and reading one safely.

Reading never unpickles code: tensors and plain containers only (`weights_only=True`). This module imports
torch but not Lightning: `litmlp inspect` and the trust check read checkpoints without importing it.
"""

from __future__ import annotations

import hashlib
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from litmlp.errors import LitmlpError

# The run's resolved config, so a checkpoint alone rebuilds its model and data.
CONFIG_KEY = "litmlp_config"
# The DataModule's state (scaling, feature and class names) for prediction and export. Lightning also
# stores it, under the DataModule's class name.
DATA_KEY = "litmlp_data"
# sha256 of the checkpoint's content (every tensor's key, dtype, shape and bytes; every plain value), written
# with it, checked on load: a flipped byte inside a weight tensor, which torch's reader does not notice,
# or in a stored label or median, is refused, not used.
DIGEST_KEY = "litmlp_digest"
# What the digest covers is versioned: a later definition must not call older files corrupted.
DIGEST_VERSION = "v1:"


def tensor_digest(checkpoint: dict[str, Any]) -> str:
    digest = hashlib.sha256()

    def visit(key: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{key}:{tensor.dtype}:{tuple(value.shape)};".encode())
            digest.update(tensor.view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for name in sorted(value, key=str):
                if name != DIGEST_KEY:
                    visit(f"{key}/{name}", value[name])
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(f"{key}[{index}]", item)
        elif value is None or isinstance(value, (str, bytes, int, float, bool)):
            digest.update(f"{key}={value!r};".encode())  # labels, medians, settings: they change results too

    visit("", checkpoint)
    return digest.hexdigest()


def with_digest(checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {**checkpoint, DIGEST_KEY: DIGEST_VERSION + tensor_digest(checkpoint)}


def verify_digest(checkpoint: dict[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint whose content changed since it was written (one without a digest, or with a
    digest of another version, passes unchecked)."""
    stored = checkpoint.get(DIGEST_KEY)
    if (
        isinstance(stored, str)
        and stored.startswith(DIGEST_VERSION)
        and stored != DIGEST_VERSION + tensor_digest(checkpoint)
    ):
        raise LitmlpError(
            f"checkpoint {path} is corrupted: its content does not match the digest written with it "
            "(a damaged disk or copy); nothing was loaded from it"
        )


def _cut_short(path: Path) -> bool:
    """A file that starts as a zip archive (torch's format) but has no end of archive: cut off."""
    try:
        with path.open("rb") as file:
            start = file.read(4)
        return start == b"PK\x03\x04" and not zipfile.is_zipfile(path)
    except OSError:
        return False


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
        if _cut_short(path):
            raise LitmlpError(
                f"cannot read checkpoint {path}: the file is truncated (a zip archive without its end); "
                "nothing was loaded from it"
            ) from error
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LitmlpError(f"cannot read checkpoint {path}: {reason}") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise LitmlpError(f"{path} is not a litmlp checkpoint (no 'state_dict')")
    verify_digest(checkpoint, path)
    return checkpoint
