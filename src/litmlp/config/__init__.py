"""Where the configs live, their schemas, and the resolvers they use."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from litmlp.config.schema import register_schemas


def config_dir() -> Path:
    """`conf/` inside an installed wheel, else the repository's top-level `conf/` (editable install)."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "conf"
    return installed if installed.is_dir() else package.parents[1] / "conf"


def run_id() -> str:
    """A run directory name: start time plus a random suffix, so runs started in the same second differ.

    Under torchrun or srun every rank is a process of its own that composes its own config: they agree
    on the directory through the launcher, not their clocks. srun: the job and step ids (a requeued job
    keeps its job id). torchrun: its run id (`--standalone` makes one, `--rdzv-id` names one); torchrun's
    default static rendezvous has none (`TORCHELASTIC_RUN_ID=none`), so the ranks share the first name one
    of them proposes through torchrun's own store.
    """
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


def register() -> None:
    """Register schemas and resolvers; call before Hydra composes a config. Idempotent."""
    register_schemas()
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", run_id, use_cache=True)
    if not OmegaConf.has_resolver("cwd"):
        # Not ${hydra:runtime.cwd}: a sweep resolves its directory before Hydra's runtime config exists.
        OmegaConf.register_new_resolver("cwd", os.getcwd)


def compose_config(config_name: str, overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """Compose `conf/<config_name>.yaml` as the CLI does, for use outside it (tests, notebooks, benchmarks).

    Hydra's runtime values are set as if a job ran in `output_dir`, so `${paths.output_dir}` resolves there.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig

    register()
    with initialize_config_dir(str(config_dir()), version_base="1.3"):
        cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.runtime.cwd = str(output_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg
