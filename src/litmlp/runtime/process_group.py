"""Frees torch.distributed's process group while Python still runs, in every rank process.

Lightning initialises the process group and never destroys it. Left to the interpreter's shutdown, gloo's
worker threads can still be releasing the last gradient all-reduce when Python finalises; that release
needs the GIL, the thread is torn down instead, and the process aborts ("terminate called without an
active exception"; 19 of 100 two-rank runs here, 0 of 100 with `release_process_group` at the job's end,
0 of 40 with it at exit: see `scripts/ddp_shutdown_crash.py`). litmlp's jobs release the group when they
end (`litmlp.tasks.distributed`); this callback also releases it at exit in rank processes that run no
litmlp job code at their end, such as the workers of `strategy=ddp_spawn`.
"""

from __future__ import annotations

import atexit
import gc

import lightning.pytorch as pl
import torch.distributed


def release_process_group(*, all_ranks_here: bool) -> None:
    """Destroy the default process group (and its subgroups) while Python can still run their cleanup.

    `all_ranks_here`: every rank reached this point (a finished or jointly stopped job), so a barrier is
    safe and lets no rank leave while another still talks to the group. After a failure on some ranks only,
    or at exit, a barrier could wait forever; the group is destroyed without it.
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


def _release_at_exit() -> None:
    release_process_group(all_ranks_here=False)


class ReleaseProcessGroupAtExit(pl.Callback):
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if trainer.world_size > 1:
            atexit.unregister(_release_at_exit)  # once per process, however many jobs it runs
            atexit.register(_release_at_exit)
