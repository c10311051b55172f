"""What a litmlp checkpoint holds beyond Lightning's, and reading one safely.

Reading never unpickles code: tensors and plain containers only (`weights_only=True`). This module imports
torch but not Lightning, so prediction and export start quickly.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from litmlp.errors import LitmlpError

if TYPE_CHECKING:
    from omegaconf import DictConfig

# The run's resolved config, so a checkpoint alone rebuilds its model and data.
CONFIG_KEY = "litmlp_config"
# When the resume checkpoint was saved; TensorBoard events logged after it are dropped on resume.
SAVED_AT_KEY = "litmlp_saved_at"


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


def load_run_checkpoint(
    path: str | Path, trusted_targets: Sequence[str]
) -> tuple[dict[str, Any], DictConfig]:
    """A checkpoint and the run config stored in it, checked (see `litmlp.config.trust`) before any use."""
    checkpoint = load_checkpoint(path)
    if CONFIG_KEY not in checkpoint:
        raise LitmlpError(f"{path} holds no run config ({CONFIG_KEY}): was it written by litmlp train?")
    return checkpoint, checked_config(checkpoint, path, trusted_targets)


def checked_config(
    checkpoint: dict[str, Any], path: str | Path, trusted_targets: Sequence[str]
) -> DictConfig:
    """The stored run config, refused if it holds interpolations or targets outside the allow-list."""
    from omegaconf import OmegaConf

    from litmlp.config.trust import check_stored_config

    stored = checkpoint[CONFIG_KEY]
    if not isinstance(stored, dict):
        raise LitmlpError(f"{path}: the stored run config ({CONFIG_KEY}) is not a mapping")
    check_stored_config(stored, str(path), trusted_targets)
    return OmegaConf.create(stored)
