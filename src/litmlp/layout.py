"""The run directory's layout: every name litmlp reads or writes in a run, in one place.

<run dir>/
  .hydra/                 the composed config and the command-line overrides (Hydra's)
  <command>.log           the log of the command that made it (train.log, eval.log, ...)
  checkpoints/last.ckpt   the resume checkpoint; the best one sits beside it
  tensorboard/            TensorBoard events
  metrics.json            the final results: present once the run has finished
  error.txt               why a run failed (a sweep summary shows it)
  pruned.txt              why an Optuna search stopped the run early
  .litmlp.lock            held by the process that trains the run (litmlp.runtime.run_lock)
"""

from __future__ import annotations

from pathlib import Path

HYDRA_DIR = ".hydra"
OVERRIDES_FILE = Path(HYDRA_DIR) / "overrides.yaml"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT_NAME = "last.ckpt"
LAST_CHECKPOINT = Path(CHECKPOINT_DIR) / LAST_CHECKPOINT_NAME
TENSORBOARD_DIR = "tensorboard"
METRICS_FILE = "metrics.json"
ERROR_FILE = "error.txt"
PRUNED_FILE = "pruned.txt"
LOCK_FILE = ".litmlp.lock"
# Entries of OVERRIDES_FILE that are not a run's settings: how an Optuna search reaches its trial, Hydra's
# own keys, the targets a resumed run trusts.
NOT_SETTINGS = ("callbacks.optuna_pruning.", "optuna.", "hydra.", "trusted_targets")


def log_file(command: str, rank: int = 0) -> str:
    return f"{command}.log" if rank == 0 else f"{command}_rank{rank}.log"
