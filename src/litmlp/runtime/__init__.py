"""The runtime: what makes a run survive and scale, attached to the core without the core knowing.

Exact resume, stop signals and requeue, checkpoint trust, launchers and ranks, thread shares and sweep
summaries live here. They reach a run only through Lightning callbacks and plugins (named in `conf/` or
added to the job's config below), Hydra callbacks, launchers and the Optuna sweeper, and these two hooks,
which the CLI calls:

- `before_compose(command, overrides)`: the overrides Hydra composes with (a resumed run's directory, a
  rank's log file, the job a rank Lightning started belongs to);
- `run_task(command, load_task, cfg)`: runs the core task with the job's config completed (a resumed run's
  own config, a checkpoint's stored config once trusted, the runtime's callbacks) and ends it cleanly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from litmlp.layout import LAST_CHECKPOINT, METRICS_FILE
from litmlp.runtime.ranks import (
    AnnouncedJob,
    announce_job,
    job_overrides,
    process_rank,
    rank_overrides,
    relaunched_job,
    run_id,
)

log = logging.getLogger(__name__)
Task = Callable[[DictConfig], Any]
# Commands whose model and data come from the config stored in their checkpoint.
FROM_CHECKPOINT = ("eval", "predict", "export", "serve")
SLURM_ENVIRONMENT = "lightning.pytorch.plugins.environments.SLURMEnvironment"

__all__ = ["before_compose", "relaunched_job", "run_task"]


def before_compose(command: str, overrides: list[str], job: AnnouncedJob | None = None) -> list[str]:
    """The overrides to compose `command` with; `job`: this process is a rank Lightning started for it."""
    OmegaConf.register_new_resolver("run_id", run_id, use_cache=True, replace=True)
    if job is not None:
        overrides = job_overrides(job)
    elif command == "train":
        from litmlp.runtime.resume_run import refuse_taken_run_dir, resume_overrides

        if any(override.startswith("resume=") for override in overrides):
            overrides = resume_overrides(overrides)
        else:
            refuse_taken_run_dir(overrides)
    return [*overrides, *rank_overrides(command, process_rank())]


def run_task(command: str, load_task: Callable[[], Task], cfg: DictConfig) -> Any:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_config = HydraConfig.get()
    announce_job(
        AnnouncedJob(
            command=command,
            run_dir=hydra_config.runtime.output_dir,
            overrides=list(hydra_config.overrides.task),
            in_sweep=hydra_config.mode == RunMode.MULTIRUN,
        )
    )
    run_dir = Path(hydra_config.runtime.output_dir)
    with _holding(command, run_dir):  # before a resumed run's files are touched (its events rewound)
        if command == "train" and cfg.resume:
            resumed = _resume(cfg, list(hydra_config.overrides.task))
            if isinstance(resumed, dict):
                return resumed
            cfg = resumed
        cfg = _complete(command, cfg)
        _share_threads(cfg)
        from litmlp.runtime.distributed import distributed_job

        task = load_task()
        with distributed_job():
            result = task(cfg)
    if command == "train" and isinstance(result, dict):
        _progress_from_last_checkpoint(result, Path(hydra_config.runtime.output_dir))
    return result


def _holding(command: str, run_dir: Path) -> AbstractContextManager[None]:
    """The run's lock while rank 0 trains it (other ranks and commands share or need none)."""
    from litmlp.runtime.run_lock import holding_run

    return holding_run(run_dir) if command == "train" and process_rank() == 0 else nullcontext()


def _resume(cfg: DictConfig, overrides: list[str]) -> DictConfig | dict[str, Any]:
    """The resumed run's own config, or its final metrics when there is nothing left to train."""
    from litmlp.runtime.event_files import rewind_csv_files, rewind_event_files
    from litmlp.runtime.resume_run import SAFE_ON_RESUME, override_key, plan_resume, stale_checkpoints

    changed = [key for key in map(override_key, overrides) if key in SAFE_ON_RESUME]
    resume = plan_resume(cfg, changed)
    if resume.finished is not None:
        log.info(
            "%s already finished; nothing to resume (raise trainer.max_epochs to train on)", resume.run_dir
        )
        return resume.finished
    if resume.saved_at is not None and process_rank() == 0:  # the log files are rank 0's
        dropped = rewind_event_files(resume.run_dir, resume.saved_at, resume.repeats_from_step)
        dropped_rows = rewind_csv_files(resume.run_dir, resume.csv_rows, resume.repeats_from_step)
        log.info(
            "Dropped %d TensorBoard events and %d CSV rows logged after the checkpoint", dropped, dropped_rows
        )
    if process_rank() == 0:
        for path in stale_checkpoints(resume.checkpoint_dirs, resume.repeats_from_step):
            path.unlink(missing_ok=True)  # of steps the resumed run trains again
            log.info("Removed %s, written after the checkpoint the run resumes from", path)
    log.info("Resuming %s from %s", resume.run_dir, resume.config.fit_ckpt_path)
    return resume.config


def _complete(command: str, cfg: DictConfig) -> DictConfig:
    """The job's config with what the runtime adds: a checkpoint's stored config (checked), the
    distributed-job callback, SLURM's cluster environment inside srun."""
    from litmlp.runtime.trust import load_run_config

    trusted = list(cfg.trusted_targets)
    with open_dict(cfg):
        if command in FROM_CHECKPOINT:
            stored = load_run_config(cfg.ckpt_path, trusted)
            # The command line's `data.KEY=...` (eval) applies on top of the stored data settings.
            changes = cfg.data if command == "eval" and cfg.data else {}
            cfg.data, cfg.model = OmegaConf.merge(stored.data, changes), stored.model
        elif command == "train" and cfg.ckpt_path:
            load_run_config(
                cfg.ckpt_path, trusted
            )  # not built, but a file carrying a refused config is not used
        if command in ("train", "eval"):
            cfg.callbacks.distributed_job = {"_target_": "litmlp.runtime.distributed.DistributedJob"}
            from litmlp.runtime.distributed import in_srun

            if in_srun():
                # Lightning's own requeue off: ResumeCheckpoint saves a resumable checkpoint and requeues.
                environment = {"_target_": SLURM_ENVIRONMENT, "auto_requeue": False}
                plugins = [p for p in cfg.trainer.plugins or [] if p.get("_target_") != SLURM_ENVIRONMENT]
                cfg.trainer.plugins = [*plugins, environment]  # a resumed run's config has it already
    return cfg


def _share_threads(cfg: DictConfig) -> None:
    """torch's threads for this process: `torch_threads` if set; else the CPUs SLURM gave the task
    (`SLURM_CPUS_PER_TASK`) or the launcher's `cpus_per_task`; else the cores shared among the processes
    that run at once on this machine: a parallel launcher's `n_jobs` runs, each with `trainer.devices`
    ranks. Left to torch (all cores) for a single process."""
    import torch
    from hydra.core.hydra_config import HydraConfig

    threads = cfg.get("torch_threads")
    launcher = HydraConfig.get().launcher
    if not threads:
        cores = os.cpu_count() or 1
        n_jobs = launcher.get("n_jobs") or 1
        devices = OmegaConf.select(cfg, "trainer.devices", default=1)
        processes = (cores if n_jobs < 0 else n_jobs) * (
            devices if isinstance(devices, int) and devices > 1 else 1
        )
        allotted = os.environ.get("SLURM_CPUS_PER_TASK") or launcher.get("cpus_per_task")
        if allotted:  # shared by the processes this task runs at once
            threads = max(1, int(allotted) // processes)
        elif processes > 1:
            threads = max(1, cores // processes)
    if threads:
        torch.set_num_threads(threads)
    log.info("torch threads: %d", torch.get_num_threads())


def _progress_from_last_checkpoint(result: dict[str, Any], run_dir: Path) -> None:
    """strategy=ddp_spawn fits in worker processes, and this one gets back only the weights and the
    logged metrics: the run's progress comes from its last checkpoint."""
    last = run_dir / LAST_CHECKPOINT
    if result.get("global_step") != 0 or not last.is_file() or process_rank() != 0:
        return
    from litmlp.checkpoint import load_checkpoint
    from litmlp.tasks.results import write_json_atomic

    state = load_checkpoint(last)
    result.update(epochs_trained=state["epoch"] + 1, global_step=state["global_step"])
    metrics = run_dir / METRICS_FILE
    if metrics.is_file():
        write_json_atomic(metrics, result)
