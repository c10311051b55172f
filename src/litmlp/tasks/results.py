"""What a run leaves behind: `metrics.json`, the printed metrics table, TensorBoard's HPARAMS entry."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

from litmlp.atomic_file import replacing

METRICS_FILE = "metrics.json"
# What makes up a run's hyper-parameters in TensorBoard's HPARAMS tab: the seed, the data and model
# sections without loader mechanics, and the trainer settings that change what is learned.
HPARAM_SECTIONS = ("seed", "data", "model")
NOT_HPARAMS = {"data/eval_batch_size", "data/num_workers", "data/pin_memory", "data/persistent_workers"}
TRAINER_HPARAMS = ("max_epochs", "precision", "accumulate_grad_batches", "gradient_clip_val")


def as_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items()}


def write_json_atomic(path: Path, content: Mapping[str, Any]) -> None:
    """A reader (a sweep summary, resume=) never sees a half-written file."""
    with replacing(path) as partial:
        partial.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def metrics_table(stages: Mapping[str, Mapping[str, float]]) -> str:
    """A small text table: one row per metric, one column per stage ('val', 'test')."""
    names = sorted({key.split("/", 1)[1] for values in stages.values() for key in values})
    header = f"{'metric':<10}" + "".join(f"{stage:>12}" for stage in stages)
    rows = [header, "-" * len(header)]
    for name in names:
        cells = "".join(
            f"{values[f'{stage}/{name}']:>12.6f}" if f"{stage}/{name}" in values else f"{'':>12}"
            for stage, values in stages.items()
        )
        rows.append(f"{name:<10}{cells}")
    return "\n".join(rows)


def flat_hparams(cfg: DictConfig) -> dict[str, Any]:
    """The run's hyper-parameters as flat `section/key` entries TensorBoard can show (str/int/float/bool)."""
    flat: dict[str, Any] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if not str(key).startswith("_"):
                    visit(f"{prefix}/{key}" if prefix else str(key), item)
        elif isinstance(value, (str, int, float, bool)):
            flat[prefix] = value
        elif value is not None:
            flat[prefix] = str(value)

    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    for section in HPARAM_SECTIONS:
        visit(section, container[section])
    for key in TRAINER_HPARAMS:
        visit(f"trainer/{key}", container["trainer"][key])
    for key in NOT_HPARAMS:
        flat.pop(key, None)
    if "_target_" in cfg.model.optimizer:
        flat["model/optimizer/name"] = cfg.model.optimizer._target_.rsplit(".", 1)[-1]
    return flat


def log_hparams(loggers: list[Logger], cfg: DictConfig, metrics: Mapping[str, float]) -> None:
    """One HPARAMS entry per run, written at its end so the metrics are the run's real results."""
    finite = {
        f"hp/{name.replace('/', '_')}": value for name, value in metrics.items() if math.isfinite(value)
    }
    params = flat_hparams(cfg)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(params, metrics=finite)
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(finite)
        logger.save()
