"""The end of a job that ran under torch.distributed, so the process can exit cleanly or run the next job.

Lightning initialises the process group and never destroys it. Left to the interpreter's shutdown, gloo's
worker threads can still be releasing the last gradient all-reduce when Python finalises; that release
needs the GIL, the thread is torn down instead, and the process aborts ("terminate called without an
active exception"; 11 of 60 two-rank runs here, 0 of 60 with this module's release: see
`scripts/ddp_shutdown_crash.py`). Freeing DDP's reducer and the group while the interpreter is alive
removes it. A sweep's next job needs the same: a
fresh group, and a Lightning launcher that starts new ranks for it.
"""

from __future__ import annotations

import gc
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import lightning.pytorch as pl
import torch.distributed

# What Lightning's launcher writes into this process's environment for the ranks it starts. Left set,
# LOCAL_RANK makes the next job's Trainer believe an external launcher started the ranks, and it waits
# for ranks that never come.
LAUNCHER_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")
CHILD_EXIT_TIMEOUT_S = 60


def release_process_group(*, all_ranks_here: bool) -> None:
    """Destroy the default process group (and its subgroups) while Python can still run their cleanup.

    `all_ranks_here`: every rank reached this point (a finished or jointly stopped job), so a barrier is
    safe and lets no rank leave while another still talks to the group. After a failure on some ranks only,
    a barrier would wait forever; the group is destroyed without it.
    """
    if not torch.distributed.is_initialized():
        return
    # Lightning's teardown unwrapped the model; the DistributedDataParallel wrapper and its reducer, which
    # hold the group and its last all-reduce, are now garbage in a reference cycle: free them first.
    gc.collect()
    if all_ranks_here:
        nccl = torch.distributed.get_backend() == "nccl"
        torch.distributed.barrier(device_ids=[torch.cuda.current_device()] if nccl else None)
    torch.distributed.destroy_process_group()
    gc.collect()


def _wait_for_launched_ranks(trainer: pl.Trainer) -> None:
    """Wait for the rank processes Lightning's launcher started for this job, then let them go.

    Its watchdog thread SIGKILLs this process when one of them exits with an error; a sweep has recorded
    that job as failed and runs the next one, which must not be killed for it.
    """
    processes: list[subprocess.Popen[bytes]] | None = getattr(trainer.strategy.launcher, "procs", None)
    if not processes:
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
    from litmlp.errors import RunInterrupted, RunPruned

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
