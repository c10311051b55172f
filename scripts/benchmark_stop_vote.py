"""What agreeing on a stop signal costs a DDP training step: the tutorial MLP's step on 2 gloo ranks with
no vote, with ResumeCheckpoint's vote (an asynchronous all-reduce every VOTE_EVERY_N_STEPS steps, read at
the next vote), with that vote at every step, and with a blocking vote at every step; in the same
processes, alternating blocks of steps.

    python scripts/benchmark_stop_vote.py [--steps 2000] [--batch-size 128]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

import torch
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from litmlp.models import MLP
from litmlp.runtime.process_group import release_process_group
from litmlp.runtime.resume import VOTE_EVERY_N_STEPS, StopVote

BLOCK = 100
VARIANTS = ("no vote", f"every {VOTE_EVERY_N_STEPS} steps", "every step", "blocking, every step")


def rank_main(rank: int, port: int, steps: int, batch_size: int, results: mp.SimpleQueue) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    torch.manual_seed(rank)
    model = DistributedDataParallel(MLP(num_inputs=50, num_outputs=3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    features, targets = torch.randn(batch_size, 50), torch.randint(0, 3, (batch_size,))
    vote = StopVote()
    timings: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for block in range(steps // BLOCK):
        variant = VARIANTS[block % len(VARIANTS)]
        started = time.perf_counter()
        for step in range(1, BLOCK + 1):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(features), targets).backward()
            optimizer.step()
            if variant == "every step" or (variant == VARIANTS[1] and step % VOTE_EVERY_N_STEPS == 0):
                vote.cast(None)
            elif variant == "blocking, every step":
                vote.decide(None)
        vote.decide(None)  # no vote left in flight between blocks
        timings[variant].append((time.perf_counter() - started) / BLOCK)
    del model, optimizer, vote
    release_process_group(all_ranks_here=True)
    if rank == 0:
        results.put({variant: statistics.median(values) for variant, values in timings.items()})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    results = mp.get_context("spawn").SimpleQueue()
    mp.start_processes(
        rank_main, args=(free_port(), args.steps, args.batch_size, results), nprocs=2, start_method="spawn"
    )
    medians = results.get()
    base = medians["no vote"]
    print(f"DDP step, 2 gloo ranks, batch {args.batch_size} (median of {BLOCK}-step blocks):")
    for variant, seconds in medians.items():
        print(f"  {variant:>20}: {seconds * 1e6:7.1f} us/step   {seconds / base:5.3f}x")


if __name__ == "__main__":
    main()
