"""Where a process stands among the ranks of a distributed run, before Hydra composes its config.

Three launchers start ranks. torchrun and SLURM's srun start every rank themselves (RANK, SLURM_PROCID);
each composes its own config and the run directory name comes from the launcher's job id (see
`litmlp.config.run_id`). Lightning's DDP launcher starts ranks 1..N-1 from rank 0, by re-running the
command line: inside a sweep that command line is the whole sweep. So rank 0 announces the one job it is
running (command, run directory, overrides) in the environment its ranks inherit, and they run that job.

Standard library only: the CLI imports this before anything heavy.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

JOB_VARIABLE = "LITMLP_JOB"


@dataclass(frozen=True)
class AnnouncedJob:
    command: str
    run_dir: str
    overrides: list[str]
    in_sweep: bool


def announce_job(job: AnnouncedJob) -> None:
    """Tell the ranks that Lightning's launcher may start from this process which job they belong to."""
    os.environ[JOB_VARIABLE] = json.dumps(job.__dict__)


def relaunched_job() -> AnnouncedJob | None:
    """The job this process was started for by Lightning's launcher in rank 0, else None.

    Lightning gives the ranks it starts LOCAL_RANK > 0 and no RANK (torchrun sets both).
    """
    announced = os.environ.get(JOB_VARIABLE)
    if announced is None or "RANK" in os.environ or int(os.environ.get("LOCAL_RANK", "0")) == 0:
        return None
    return AnnouncedJob(**json.loads(announced))


def process_rank() -> int:
    """This process's global rank as its launcher set it (0 when it runs alone)."""
    if relaunched_job() is not None:
        return int(os.environ["LOCAL_RANK"])
    return int(os.environ.get("RANK") or os.environ.get("SLURM_PROCID") or 0)


def job_overrides(job: AnnouncedJob) -> list[str]:
    """Hydra overrides that run the announced job, alone, in its own run directory."""
    return [*job.overrides, f"hydra.run.dir='{job.run_dir}'"]


def rank_overrides(command: str, rank: int) -> list[str]:
    """Ranks > 0 share rank 0's run directory: its .hydra/ and log file are rank 0's to write, and the
    console is rank 0's to print on. They log to a file of their own."""
    if rank == 0:
        return []
    return [
        "hydra.output_subdir=null",
        f"hydra.job_logging.handlers.file.filename=${{hydra.runtime.output_dir}}/{command}_rank{rank}.log",
        "hydra.job_logging.root.handlers=[file]",
    ]
