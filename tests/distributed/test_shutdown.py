"""The end of a distributed job frees the gloo process group and its worker threads while Python runs.

Left to the interpreter's exit, a worker thread still releasing the last gradient all-reduce aborts the
process ("terminate called without an active exception"); `scripts/ddp_shutdown_crash.py` counts it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from litmlp.models import MLP
from litmlp.runtime.process_group import release_process_group
from tests.helpers.slurm import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="reads thread names from /proc"),
]


def gloo_threads() -> list[str]:
    names = (task / "comm" for task in Path("/proc/self/task").iterdir())
    return [name.read_text().strip() for name in names if "gloo" in name.read_text()]


def train_one_step_then_release(rank: int, port: int, results: mp.SimpleQueue) -> None:
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    model = DistributedDataParallel(MLP(num_inputs=50, num_outputs=3))
    model(torch.randn(8, 50)).sum().backward()  # one all-reduce of the gradients
    during = gloo_threads()
    del model  # as Lightning's teardown unwraps it
    release_process_group(all_ranks_here=True)
    results.put((rank, during, gloo_threads(), torch.distributed.is_initialized()))


def test_releasing_the_group_stops_gloo_worker_threads_before_exit():
    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    mp.start_processes(
        train_one_step_then_release, args=(free_port(), results), nprocs=2, start_method="spawn"
    )
    for _ in range(2):
        rank, during, after, initialized = results.get()
        assert during, f"rank {rank}: no gloo threads while training"
        assert after == [], f"rank {rank}: {after} still running"
        assert not initialized
