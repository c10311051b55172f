"""`litmlp eval ckpt_path=...`: test a checkpoint with the model and data config saved inside it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from litmlp.checkpoint import DATA_KEY, load_checkpoint
from litmlp.tasks.build import (
    build_callbacks,
    build_datamodule,
    build_loggers,
    build_model,
    build_trainer,
    data_sizes,
    quiet_lightning,
)
from litmlp.tasks.checks import check_values
from litmlp.tasks.results import report_evaluation
from litmlp.tracking import closing_runs

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """`cfg.data` and `cfg.model` are the run's own, read from the checkpoint (see `litmlp.runtime`)."""
    quiet_lightning()
    if cfg.float32_matmul_precision:
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    with data_sizes(None):
        check_values(cfg, ("trainer", "callbacks"))
    datamodule = build_datamodule(cfg.data)
    # The training run's data state first (its column encoding and scaling): the model's input size
    # follows the encoding it was trained with, not one fitted on these rows.
    data_state = load_checkpoint(cfg.ckpt_path).get(DATA_KEY)
    if isinstance(data_state, dict):
        datamodule.load_state_dict(data_state)
    model = build_model(cfg.model, datamodule)
    trainer = build_trainer(cfg.trainer, build_callbacks(cfg.callbacks), build_loggers(cfg.logger))
    with closing_runs(trainer.loggers):  # an MLflow or W&B run (logger=mlflow) ends once all is logged
        # Lightning restores the weights and the DataModule's state (the training split's scaling) from it.
        results = trainer.test(
            model, datamodule=datamodule, ckpt_path=cfg.ckpt_path, verbose=False, weights_only=True
        )
        return report_evaluation(trainer, Path(cfg.ckpt_path), Path(cfg.paths.output_dir), results)
