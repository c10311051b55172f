"""Stand-ins for SLURM's `srun` and `scontrol` on machines without a cluster.

`srun` starts the tasks of one node with the environment a real srun gives them (compared with a Slurm
22.05 job step) and passes SIGUSR1/SIGTERM/SIGINT on to them, as SLURM does; `scontrol` records its
arguments. `python -m tests.helpers.slurm COMMAND ...` is the srun stand-in itself.
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


def task_environment(rank: int, ntasks: int, port: int) -> dict[str, str]:
    """What srun sets in task `rank` of a one-node step (`srun -N 1 --ntasks-per-node=NTASKS`)."""
    return {
        **os.environ,
        "SLURM_JOB_ID": os.environ.get("SLURM_JOB_ID", "4242"),
        "SLURM_STEP_ID": "0",
        "SLURM_JOB_NAME": os.environ.get("SLURM_JOB_NAME", "litmlp"),
        "SLURM_NTASKS": str(ntasks),
        "SLURM_NTASKS_PER_NODE": str(ntasks),
        "SLURM_NNODES": "1",
        "SLURM_NODELIST": "localhost",
        "SLURM_NODEID": "0",
        "SLURM_PROCID": str(rank),
        "SLURM_LOCALID": str(rank),
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
    while command and command[0].startswith("--"):  # srun's own --option=value: one node, tasks from env
        command = command[1:]
    ntasks = int(os.environ.get("SLURM_NTASKS_PER_NODE", "1"))
    port = free_port()
    tasks = [subprocess.Popen(command, env=task_environment(rank, ntasks, port)) for rank in range(ntasks)]

    def pass_on(signum: int, frame: FrameType | None) -> None:
        for task in tasks:
            task.send_signal(signum)

    for signum in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, pass_on)
    codes = [task.wait() for task in tasks]
    return max(codes, key=abs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
