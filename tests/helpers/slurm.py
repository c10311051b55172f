"""Stand-ins for SLURM's `srun` and `scontrol` on machines without a cluster.

`srun` starts the tasks of a step, every "node" on this machine, with the environment a real srun gives
them (compared with a Slurm 22.05 job step) and passes SIGUSR1/SIGTERM/SIGINT on to them, as SLURM does;
`scontrol` records its arguments. `python -m tests.helpers.slurm COMMAND ...` is the srun stand-in itself.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def task_environment(rank: int, nodes: int, ntasks_per_node: int, port: int) -> dict[str, str]:
    """What srun sets in task `rank` of a step `srun -N NODES --ntasks-per-node=NTASKS_PER_NODE`.

    Every "node" is this machine: the tasks of node 1 are started here too, with node 1's ids.
    """
    return {
        **os.environ,
        "SLURM_JOB_ID": os.environ.get("SLURM_JOB_ID", "4242"),
        "SLURM_STEP_ID": "0",
        "SLURM_JOB_NAME": os.environ.get("SLURM_JOB_NAME", "litmlp"),
        "SLURM_NTASKS": str(nodes * ntasks_per_node),
        "SLURM_NTASKS_PER_NODE": str(ntasks_per_node),
        "SLURM_NNODES": str(nodes),
        "SLURM_NODELIST": ",".join(["localhost"] * nodes),
        "SLURM_NODEID": str(rank // ntasks_per_node),
        "SLURM_PROCID": str(rank),
        "SLURM_LOCALID": str(rank % ntasks_per_node),
        "MASTER_PORT": str(port),  # a real srun leaves it to Lightning (15000 + the job id's last digits)
    }


def install(bin_dir: Path, scontrol_record: Path) -> dict[str, str]:
    """Put `srun` and `scontrol` stand-ins in `bin_dir`; returns the environment that finds them first."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    scripts = {
        "srun": f'#!/bin/sh\nexec "{sys.executable}" -m tests.helpers.slurm "$@"\n',
        "scontrol": f'#!/bin/sh\necho "$@" >> "{scontrol_record}"\n',
    }
    for name, text in scripts.items():
        path = bin_dir / name
        path.write_text(text)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": "1",
    }


def main(command: list[str]) -> int:
    # srun's own options: --nodes and --ntasks-per-node, else the allocation's (sbatch sets them)
    shape = {
        "--nodes": os.environ.get("SLURM_NNODES", "1"),
        "--ntasks-per-node": os.environ.get("SLURM_NTASKS_PER_NODE", "1"),
    }
    while command and command[0].startswith("--"):
        option, _, value = command.pop(0).partition("=")
        shape[option] = value
    nodes, per_node = int(shape["--nodes"]), int(shape["--ntasks-per-node"])
    port = free_port()
    tasks = [
        subprocess.Popen(command, env=task_environment(rank, nodes, per_node, port))
        for rank in range(nodes * per_node)
    ]

    def pass_on(signum: int, frame: FrameType | None) -> None:
        for task in tasks:
            task.send_signal(signum)

    for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, pass_on)
    codes = [task.wait() for task in tasks]
    return max(codes, key=abs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
