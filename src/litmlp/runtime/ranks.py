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
from datetime import datetime

from litmlp.layout import log_file

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
    from litmlp.runtime.resume_run import hydra_quoted

    return [*job.overrides, f"hydra.run.dir={hydra_quoted(job.run_dir)}"]


def rank_overrides(command: str, rank: int) -> list[str]:
    """Ranks > 0 share rank 0's run directory: its .hydra/ and log file are rank 0's to write, and the
    console is rank 0's to print on. They log to a file of their own."""
    if rank == 0:
        return []
    return [
        "hydra.output_subdir=null",
        f"hydra.job_logging.handlers.file.filename=${{hydra.runtime.output_dir}}/{log_file(command, rank)}",
        "hydra.job_logging.root.handlers=[file]",
    ]


def run_id() -> str:
    """A run directory name that every rank of one launch agrees on (replaces `litmlp.config.run_id`).

    Under torchrun or srun every rank is a process of its own that composes its own config: they agree
    on the directory through the launcher, not their clocks. srun: the job and step ids (a requeued job
    keeps its job id). torchrun: its run id (`--standalone` makes one, `--rdzv-id` names one); torchrun's
    default static rendezvous has none (`TORCHELASTIC_RUN_ID=none`), so the ranks share the first name one
    of them proposes through torchrun's own store.
    """
    import secrets

    torchrun_id = os.environ.get("TORCHELASTIC_RUN_ID")
    if torchrun_id is not None and torchrun_id != "none":
        return f"torchrun-{torchrun_id}"
    if "SLURM_STEP_ID" in os.environ and "SLURM_JOB_ID" in os.environ:  # set in srun's tasks only
        return f"slurm-{os.environ['SLURM_JOB_ID']}.{os.environ['SLURM_STEP_ID']}"
    name = f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(3)}"
    if torchrun_id == "none" and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True":
        return _agreed_with_the_other_ranks(name)
    return name


def _agreed_with_the_other_ranks(name: str) -> str:
    """The first name a rank proposed, kept in the store torchrun hosts for its ranks.

    Kept for torchrun's lifetime: a restarted attempt (`--max-restarts`) meets the same directory, as under
    `--standalone`, and is refused there once the run has a checkpoint (the error says how to resume it).
    """
    from datetime import timedelta

    from torch.distributed import TCPStore

    store = TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        is_master=False,
        timeout=timedelta(minutes=5),
    )
    return store.compare_set("litmlp/run_id", "", name).decode()
