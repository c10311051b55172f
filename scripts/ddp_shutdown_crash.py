"""How often a 2-process gloo DDP job aborts at exit: with the process group left to the interpreter's
shutdown, with litmlp's `release_process_group` at the end of the job, and with it run at exit (what
`ReleaseProcessGroupAtExit` does in `ddp_spawn` workers).

    python scripts/ddp_shutdown_crash.py [--runs 40]

Each run starts two fresh rank processes that train a few DDP steps of the tutorial MLP and exit. An abort
shows as "terminate called without an active exception" and a SIGABRT exit; the gloo worker thread that
releases the last all-reduce needs the GIL while Python finalises (see litmlp/callbacks/process_group.py).
"""

from __future__ import annotations

import argparse
import atexit
import os
import socket
import subprocess
import sys

SIDES = ("left to exit", "released", "at exit")


def rank_main(rank: int, port: int, side: str) -> None:
    import torch
    from torch.nn.parallel import DistributedDataParallel

    from litmlp.models import MLP
    from litmlp.runtime.process_group import release_process_group

    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=2
    )
    model = DistributedDataParallel(MLP(num_inputs=50, num_outputs=3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        model(torch.randn(64, 50)).sum().backward()
        optimizer.step()
    if side == "released":
        del model, optimizer  # as Lightning's teardown unwraps the model
        release_process_group(all_ranks_here=True)
    elif side == "at exit":
        atexit.register(release_process_group, all_ranks_here=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def one_run(side: str) -> bool:
    """True when both ranks exited cleanly."""
    port = str(free_port())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ranks = [
        subprocess.Popen(
            [sys.executable, __file__, "--rank", str(rank), "--port", port, "--side", side],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    results = [(rank.wait(timeout=120), rank.communicate()[1]) for rank in ranks]
    return all(code == 0 and "terminate called" not in stderr for code, stderr in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rank", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank is not None:
        rank_main(args.rank, args.port, args.side)
        return
    aborted = dict.fromkeys(SIDES, 0)
    for _ in range(args.runs):  # the two sides alternate, so both see the same machine load
        for side in SIDES:
            aborted[side] += not one_run(side)
    for side in SIDES:
        print(f"{side:>13}: {aborted[side]:3d} of {args.runs} runs aborted at exit")


if __name__ == "__main__":
    main()
