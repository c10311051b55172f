"""`litmlp train resume=RUN_DIR|latest`: which run to continue, what may change, and its saved config.

`resume_overrides` runs before Hydra composes, so the job runs in the resumed run's own directory;
`plan_resume` runs in the job and gives the train task the run's own config, with the trainer told to
restore the full training state from `checkpoints/last.ckpt`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from litmlp.errors import LitmlpError, UsageError
from litmlp.files import is_partial
from litmlp.layout import CHECKPOINT_DIR, LAST_CHECKPOINT, METRICS_FILE

# Budgets, display and trust only: anything else would make the continued run differ from the one that
# stopped.
SAFE_ON_RESUME = (
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.enable_progress_bar",
    "callbacks.rich_progress_bar",
    "callbacks.resume_checkpoint.every_n_train_steps",
    "trusted_targets",
)
FINISHED_MARKER = METRICS_FILE


def _launcher_run_ids() -> None:
    from litmlp.runtime.ranks import run_id

    OmegaConf.register_new_resolver("run_id", run_id, use_cache=True, replace=True)


def _without_config_dir(arguments: list[str]) -> list[str]:
    """The overrides, without `--config-dir DIR` (where your configs live, not what the run is)."""
    kept, skip = [], False
    for argument in arguments:
        if skip:
            skip = False
        elif argument in ("--config-dir", "-cd"):
            skip = True
        elif not argument.startswith("--config-dir="):
            kept.append(argument)
    return kept


def override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def unfinished_runs(runs_dir: Path) -> list[Path]:
    """Runs with a resume checkpoint and no final metrics, oldest first (names start with the start time)."""
    if not runs_dir.is_dir():
        return []
    return sorted(
        run
        for run in runs_dir.iterdir()
        if (run / LAST_CHECKPOINT).is_file() and not (run / FINISHED_MARKER).exists()
    )


def _latest_unfinished_run(overrides: list[str]) -> Path:
    from hydra import compose, initialize_config_dir

    from litmlp.config import config_dir, register

    register()
    _launcher_run_ids()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    runs_dir = Path(cfg.paths.log_dir) / cfg.task_name / "runs"
    candidates = unfinished_runs(runs_dir)
    if not candidates:
        raise LitmlpError(f"resume=latest: no unfinished run with {LAST_CHECKPOINT} under {runs_dir}")
    return candidates[-1]


def resume_overrides(overrides: list[str]) -> list[str]:
    """Overrides for Hydra that run the job in the resumed run's directory; refuses unsafe changes."""
    if "-m" in overrides or "--multirun" in overrides:
        raise UsageError("resume= continues one run; it cannot be combined with -m/--multirun")
    values = [o.split("=", 1)[1] for o in overrides if override_key(o) == "resume"]
    others = [o for o in overrides if override_key(o) != "resume"]
    for override in _without_config_dir(others):
        key = override_key(override)
        if key not in SAFE_ON_RESUME:
            raise UsageError(
                f"'{override}' cannot change when resuming: the run continues with its own config "
                f"(changeable: {', '.join(SAFE_ON_RESUME)})"
            )
    value = values[-1]
    run_dir = (
        _latest_unfinished_run(_without_config_dir(others))
        if value == "latest"
        else Path(value).expanduser().resolve()
    )
    if not (run_dir / LAST_CHECKPOINT).is_file():
        raise LitmlpError(f"resume={value}: {run_dir / LAST_CHECKPOINT} not found, nothing to resume")
    from litmlp.runtime.run_lock import refuse_if_running, refuse_links

    refuse_if_running(run_dir)  # before Hydra opens the run's log
    refuse_links(run_dir)
    # output_subdir=null keeps the run's own .hydra/ (its original config and overrides) untouched.
    quoted = hydra_quoted(str(run_dir))
    return [*others, f"resume={quoted}", f"hydra.run.dir={quoted}", "hydra.output_subdir=null"]


def hydra_quoted(text: str) -> str:
    """`text` as one quoted value of a Hydra override, whatever it holds (an apostrophe in a path)."""
    # Hydra reads a backslash as an escape only before a quote or at the end of the value.
    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), text)
    return f"'{escaped}'"


def resume_command(run_dir: str | Path) -> str:
    """The command that continues the run in `run_dir`, quoted for a POSIX shell."""
    return f"litmlp train {shlex.quote(f'resume={run_dir}')}"


def saved_step(checkpoint_path: Path) -> int | None:
    """The training step a checkpoint was saved at; None when there is none or it cannot be read."""
    if not checkpoint_path.is_file():
        return None  # without importing torch: a stop may have cut its import short
    try:  # memory-mapped: only the small step value is read, whatever the model's size
        import torch

        checkpoint = torch.load(checkpoint_path, map_location="cpu", weights_only=True, mmap=True)
        return int(checkpoint["global_step"])
    except Exception:
        return None


def how_to_continue(run_dir: Path) -> str:
    """The end of a stopped run's last line: where it can continue from, and the command."""
    step = saved_step(run_dir / LAST_CHECKPOINT)
    if step is None:
        return f"start it again ({run_dir} holds no checkpoint to resume from)"
    return f"continue from its checkpoint at step {step} with: {resume_command(run_dir)}"


def refuse_taken_run_dir(overrides: list[str]) -> None:
    """A new run must not start in a directory that holds a run: Hydra would overwrite its config and log.

    Only a fixed run directory can be met again: `hydra.run.dir=...`, or a name from a launcher (a
    requeued SLURM job, a reused torchrun id, a restarted torchrun attempt); other names are new.
    """
    if "-m" in overrides or "--multirun" in overrides:
        return
    given = [o.split("=", 1)[1].strip("'\"") for o in overrides if override_key(o) == "hydra.run.dir"]
    if given and "${" not in given[-1]:
        run_dir = Path(given[-1]).expanduser().resolve()
    elif given or "TORCHELASTIC_RUN_ID" in os.environ or "SLURM_STEP_ID" in os.environ:
        from hydra import compose, initialize_config_dir

        from litmlp.config import config_dir, register

        register()
        _launcher_run_ids()
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            cfg = compose("train", overrides=overrides, return_hydra_config=True)
        run_dir = Path(cfg.hydra.run.dir).resolve()
    else:
        return
    from litmlp.runtime.run_lock import refuse_if_running

    try:
        refuse_if_running(run_dir)  # a run in its first epoch has no checkpoint yet, but is running
        occupied = (run_dir / LAST_CHECKPOINT).is_file()
    except OSError:  # a path the system refuses (a name too long): making the directory names the key
        occupied = False
    if occupied:
        raise LitmlpError(
            f"{run_dir} already holds a run; continue it with: {resume_command(run_dir)} "
            "(or start a new one elsewhere)"
        )


@dataclass
class Resume:
    run_dir: Path
    config: DictConfig  # the run's saved config, with the budget overrides given now
    saved_at: float | None
    repeats_from_step: int  # the first logging step the resumed run writes (litmlp.runtime.resume)
    csv_rows: dict[str, int]  # rows of each CSV logger file at the save
    finished: dict[str, Any] | None  # the run's final metrics when there is nothing left to train
    checkpoint_dirs: list[Path]  # where the run writes checkpoints (checkpoint_dirs)


def checkpoint_dirs(checkpoint: dict[str, Any], run_dir: Path) -> list[Path]:
    """The folders the run's checkpoints are written to, inside the run directory: the resume
    checkpoint's and every ModelCheckpoint's (a dirpath shared with other runs is left out)."""
    root = run_dir.resolve()
    folders = {root / CHECKPOINT_DIR}
    for state in checkpoint.get("callbacks", {}).values():
        if isinstance(state, dict) and "best_k_models" in state and state.get("dirpath"):
            folder = Path(state["dirpath"]).resolve()  # a ModelCheckpoint's state
            if folder.is_relative_to(root):
                folders.add(folder)
    return sorted(folders)


def stale_checkpoints(folders: list[Path], resumed_step: int) -> list[Path]:
    """The checkpoint files in `folders` saved after step `resumed_step`, and the temporary files of
    writes a kill cut short.

    A run stopped between writing an epoch's best checkpoint and its resume checkpoint (a kill, a full
    disk) resumes from an earlier step and trains those steps again. Left in place, the file from the
    steps it repeats would make Lightning save the new one as `epoch_000-v1.ckpt`, and it would never be
    removed as a worse top-k file. Judged by the step stored in each file, not by file times; a file
    that is not a readable checkpoint, or a folder (a sharded checkpoint), is kept.
    """

    def repeated(path: Path) -> bool:
        return path.suffix == ".ckpt" and (saved_step(path) or 0) > resumed_step

    files = [path for folder in folders if folder.is_dir() for path in sorted(folder.iterdir())]
    files = [path for path in files if path.is_file() and not path.is_symlink()]
    return [path for path in files if is_partial(path) or repeated(path)]


def plan_resume(cfg: DictConfig, changed: list[str]) -> Resume:
    """`changed`: the keys overridden on this command line (only SAFE_ON_RESUME ones get this far)."""
    from litmlp.checkpoint import load_checkpoint
    from litmlp.runtime.resume import CSV_ROWS_KEY, SAVED_AT_KEY
    from litmlp.runtime.trust import stored_run_config

    run_dir = Path(cfg.resume)
    checkpoint_path = run_dir / LAST_CHECKPOINT
    # trusted_targets from the command line only: a value stored in the checkpoint never widens trust.
    checkpoint = load_checkpoint(checkpoint_path)
    config = stored_run_config(checkpoint, checkpoint_path, list(cfg.trusted_targets))
    for key in changed:
        OmegaConf.update(config, key, OmegaConf.select(cfg, key), merge=False)
    with open_dict(config):
        config.fit_ckpt_path = str(checkpoint_path)
        config.ckpt_path = None  # the start weights of the first attempt are inside the checkpoint

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
    saved_at = checkpoint.get(SAVED_AT_KEY)
    # The resumed run logs from the step it continues at (Lightning's count of optimizer steps) on.
    csv_rows = dict(checkpoint.get(CSV_ROWS_KEY, {}))
    step, folders = int(checkpoint.get("global_step", 0)), checkpoint_dirs(checkpoint, run_dir)
    return Resume(run_dir, config, saved_at, step, csv_rows, finished, folders)
