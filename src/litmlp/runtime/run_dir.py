"""A Hydra callback that makes the run (or sweep) directory before Hydra does, naming the key if it can't.

Hydra creates `hydra.run.dir` inside its job runner; a path the system refuses ends there in an OSError
naming only a file. Hydra turns a callback's exception into a warning and goes on, so the refusal is kept
in `RunDirectory.refused`, and the CLI reports it instead of Hydra's OSError: exit code 2, nothing written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from litmlp.errors import UsageError
from litmlp.files import os_error_reason


def _make(key: str, directory: str) -> UsageError | None:
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        reason = os_error_reason(error)
        where = f" ({error.filename})" if error.filename and str(error.filename) != directory else ""
        return UsageError(f"{key}={directory}: cannot create this directory: {reason}{where}")
    return None


class RunDirectory(Callback):
    refused: UsageError | None = None  # this process's run directory could not be made

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        RunDirectory.refused = _make("hydra.run.dir", str(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        RunDirectory.refused = _make("hydra.sweep.dir", str(config.hydra.sweep.dir))
