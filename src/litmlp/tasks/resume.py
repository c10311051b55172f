"""Continuing a run in place: its own saved config, its last checkpoint, its TensorBoard curves."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from litmlp.checkpoint import SAVED_AT_KEY, load_run_checkpoint
from litmlp.config.resume import FINISHED_MARKER, LAST_CHECKPOINT, SAFE_ON_RESUME, override_key


@dataclass
class Resume:
    run_dir: Path
    config: DictConfig
    checkpoint_path: Path
    saved_at: float | None
    finished: dict[str, Any] | None  # the run's final metrics when there is nothing left to train


def plan_resume(cfg: DictConfig) -> Resume:
    """The run's saved config with the budget overrides given now, and whether anything is left to do."""
    run_dir = Path(cfg.resume)
    checkpoint_path = run_dir / LAST_CHECKPOINT
    # trusted_targets from the command line only: a value stored in the checkpoint never widens trust.
    checkpoint, config = load_run_checkpoint(checkpoint_path, list(cfg.trusted_targets))
    changed = [key for key in map(override_key, HydraConfig.get().overrides.task) if key in SAFE_ON_RESUME]
    for key in changed:
        OmegaConf.update(config, key, OmegaConf.select(cfg, key), merge=False)

    finished = None
    metrics_path = run_dir / FINISHED_MARKER
    if metrics_path.exists():
        finished = json.loads(metrics_path.read_text())
        more_epochs = (
            "trainer.max_epochs" in changed and config.trainer.max_epochs > finished["epochs_trained"]
        )
        more_steps = "trainer.max_steps" in changed and config.trainer.max_steps > finished["global_step"]
        if more_epochs or more_steps:
            finished = None
    return Resume(run_dir, config, checkpoint_path, checkpoint.get(SAVED_AT_KEY), finished)
