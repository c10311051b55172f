"""What a litmlp checkpoint holds beyond Lightning's, and reading one safely.

Reading never unpickles code: tensors and plain containers only (`weights_only=True`). This module imports
torch but not Lightning, so prediction and export start quickly.
"""

from __future__ import annotations

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
