"""A job under torch.distributed, from the ranks' agreement to a clean end.

`DistributedJob` (a Lightning callback the runtime adds to every job) refuses a trainer that runs fewer
or more ranks than torchrun/srun started, and remembers the trainer; `distributed_job` (around the task)
then ends the job so the process can exit cleanly or run the next one: the process group is released
while Python runs (see `litmlp.runtime.process_group` for the abort this prevents), the ranks Lightning's
launcher started have exited, and the launcher's environment variables are gone, so a sweep's next job
gets a fresh group and new ranks.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import lightning.pytorch as pl

from litmlp.errors import LitmlpError, RunInterrupted, RunPruned
from litmlp.runtime.process_group import ReleaseProcessGroupAtExit, release_process_group

# What Lightning's launcher writes into this process's environment for the ranks it starts. Left set,
# LOCAL_RANK makes the next job's Trainer believe an external launcher started the ranks, and it waits
# for ranks that never come.
LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
CHILD_EXIT_TIMEOUT_S = 60


def _wait_for_launched_ranks(trainer: pl.Trainer) -> None:
    """Wait for the rank processes Lightning's launcher started for this job, then let them go.

    Its watchdog thread SIGKILLs this process when one of them exits with an error; a sweep has recorded
    that job as failed and runs the next one, which must not be killed for it.
    """
    processes = getattr(trainer.strategy.launcher, "procs", None)
    if not processes or not isinstance(processes[0], subprocess.Popen):  # ddp_spawn joined its own
        return
    for process in processes:
        try:
            process.wait(timeout=CHILD_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # stuck in a collective after this rank failed alone
            process.kill()
            process.wait()
    processes.clear()


def launcher_ranks() -> tuple[str, int] | None:
    """(launcher, ranks it started) under torchrun or srun, else None."""
    if os.environ.get("TORCHELASTIC_RUN_ID") is not None:
        return "torchrun", int(os.environ["WORLD_SIZE"])
    if in_srun():
        return "SLURM", int(os.environ.get("SLURM_NTASKS", "1"))
    return None


def in_srun() -> bool:
    """Tasks srun started (SLURM_STEP_ID is set in srun's tasks only). Lightning's own detection skips
    jobs named "bash" or "interactive" (srun inside salloc), whose tasks would then each start ranks."""
    from lightning.pytorch.plugins.environments import SLURMEnvironment

    many = "SLURM_STEP_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1
    return many or SLURMEnvironment.detect()


class DistributedJob(ReleaseProcessGroupAtExit):
    """Checks the ranks against the launcher before anything runs, and remembers the trainer."""

    current: pl.Trainer | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        DistributedJob.current = trainer
        started = launcher_ranks()
        runs = trainer.num_devices * trainer.num_nodes
        if started is not None and runs != started[1]:
            # Otherwise a one-device trainer has every rank train the whole run on its own, all writing
            # checkpoints into one run directory.
            launcher, count = started
            raise LitmlpError(
                f"{launcher} started {count} ranks, but the trainer runs {runs} (trainer.devices="
                f"{trainer.num_devices} x trainer.num_nodes={trainer.num_nodes}); use a DDP trainer "
                f"(trainer=ddp or trainer=ddp_cpu) with devices x num_nodes = {count}"
            )
        super().setup(trainer, pl_module, stage)


@contextmanager
def distributed_job() -> Iterator[None]:
    """Run the task, then leave torch.distributed as it was found."""
    environment = {name: os.environ.get(name) for name in LAUNCHER_VARIABLES}
    DistributedJob.current = None
    all_ranks_here = False
    try:
        yield
        all_ranks_here = True
    except (RunInterrupted, RunPruned):
        all_ranks_here = True  # every rank took that decision at the same step
        raise
    finally:
        release_process_group(all_ranks_here=all_ranks_here)
        if DistributedJob.current is not None:
            _wait_for_launched_ranks(DistributedJob.current)
            DistributedJob.current = None
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
