"""The end of a job that ran under torch.distributed, so the process can exit cleanly or run the next job:
the process group is released while Python runs (see `litmlp.callbacks.process_group` for the abort this
prevents), the ranks Lightning's launcher started have exited, and the launcher's environment variables
are gone, so a sweep's next job gets a fresh group and new ranks.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import lightning.pytorch as pl

from litmlp.callbacks.process_group import release_process_group
from litmlp.errors import RunInterrupted, RunPruned

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


@contextmanager
def distributed_job(trainer: pl.Trainer) -> Iterator[None]:
    """Run the body (fit, test, ...) with `trainer`, then leave torch.distributed as it was found."""
    environment = {name: os.environ.get(name) for name in LAUNCHER_VARIABLES}
    all_ranks_here = False
    try:
        yield
        all_ranks_here = True
    except (RunInterrupted, RunPruned):
        all_ranks_here = True  # every rank took that decision at the same step
        raise
    finally:
        release_process_group(all_ranks_here=all_ranks_here)
        _wait_for_launched_ranks(trainer)
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
