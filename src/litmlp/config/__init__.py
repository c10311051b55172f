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
    (Under torchrun or srun, `litmlp.runtime` replaces this with a name every rank agrees on.)"""
    return f"{datetime.now():%Y-%m-%d_%H-%M-%S}_{secrets.token_hex(3)}"


def sweep_name(default: str | None = None) -> str | None:
    """The name of the sweep this job belongs to: an Optuna search's study name (a study goes on over
    several invocations, each with a sweep directory of its own), else its directory's name; `default`
    outside a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return default
    study = HydraConfig.get().sweeper.get("study_name")
    return str(study) if study else Path(HydraConfig.get().sweep.dir).name


def register() -> None:
    """Register schemas and resolvers; call before Hydra composes a config. Idempotent."""
    register_schemas()
    if not OmegaConf.has_resolver("run_id"):
        OmegaConf.register_new_resolver("run_id", run_id, use_cache=True)
    if not OmegaConf.has_resolver("command_groups"):
        from litmlp.config.help import command_groups

        OmegaConf.register_new_resolver("command_groups", command_groups)
    if not OmegaConf.has_resolver("cwd"):
        # Not ${hydra:runtime.cwd}: a sweep resolves its directory before Hydra's runtime config exists.
        OmegaConf.register_new_resolver("cwd", os.getcwd)
    if not OmegaConf.has_resolver("sweep_name"):
        OmegaConf.register_new_resolver("sweep_name", sweep_name)


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
