"""Shared fixtures: configs composed exactly as the CLI composes them, and the real CLI in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from litmlp.config import compose_config

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)
# The runs the tests start get Ctrl-C as a user's foreground command does: a process started with SIGINT
# ignored (a script's background job, which this suite may be) keeps ignoring it, litmlp included.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., DictConfig]:
    def make(*overrides: str, config_name: str = "train") -> DictConfig:
        return compose_config(config_name, overrides, tmp_path)

    return make


def cli_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the tests run `litmlp` in."""
    # The repository on the path lets tests plug their helpers (tests.helpers) into a run's config.
    # One torch thread per process: the suite runs two workers on two cores, and this tiny MLP trains
    # no faster on two threads anyway.
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
        **(env or {}),
    }
    for name in ("HYDRA_FULL_ERROR", "LITMLP_DEBUG", "MLFLOW_TRACKING_URI"):
        environment.pop(name, None)
    return environment


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "litmlp", *args]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`python -m litmlp ARGS` in `cwd`, as a user would run it."""
    env = cli_environment(env)
    return subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def train_quickly(cwd: Path, *overrides: str) -> Path:
    """A one-epoch run in `cwd/run` (for tests that need a real checkpoint); returns the run directory."""
    result = run_cli(
        "train",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "callbacks.rich_progress_bar=null",
        "hydra.run.dir=run",
        *overrides,
        cwd=cwd,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "run"


def run_dirs(root: Path, task: str = "train") -> list[Path]:
    return sorted((root / "logs" / task / "runs").iterdir())
