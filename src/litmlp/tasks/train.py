"""`litmlp train`: build data, model and trainer from the config, fit, test the best checkpoint, report."""

from __future__ import annotations

import logging
import time
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig

from litmlp.callbacks import RunRecord
from litmlp.checkpoint import load_checkpoint
from litmlp.tasks.build import (
    build_callbacks,
    build_datamodule,
    build_loggers,
    build_model,
    build_trainer,
    data_sizes,
    quiet_lightning,
    resolved,
    with_data_choices,
)
from litmlp.tasks.checks import check_values
from litmlp.tasks.results import early_stop_reason, load_weights, log_tracker_params, report_training
from litmlp.tracking import closing_runs

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job; returns what it writes to `metrics.json`."""
    started = time.perf_counter()
    quiet_lightning()
    if cfg.float32_matmul_precision:
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")  # bad data fails here, before any logger or checkpoint directory exists
    with data_sizes(datamodule):  # so do values that would fail only once fitting starts, or never
        check_values(cfg, ("trainer", "callbacks", "model"))
    model = build_model(cfg.model, datamodule)
    if cfg.ckpt_path:  # fine-tuning: start from these weights, with a fresh optimizer and counters
        load_weights(model, load_checkpoint(cfg.ckpt_path), cfg.ckpt_path)
    config = with_data_choices(resolved(cfg, datamodule), datamodule)
    record = RunRecord(config)
    callbacks = [*build_callbacks(cfg.callbacks), record]
    trainer = build_trainer(cfg.trainer, callbacks, build_loggers(cfg.logger), datamodule)
    net = getattr(model, "net", None)
    name = type(model).__name__ + (f"({type(net).__name__})" if isinstance(net, torch.nn.Module) else "")
    log.info("Training %s on %s in %s", name, type(datamodule).__name__, cfg.paths.output_dir)
    with closing_runs(trainer.loggers):  # an MLflow or W&B run ends once everything is logged
        log_tracker_params(trainer.loggers, config)
        # weights_only=True: checkpoints are read as tensors and plain containers, never as pickled code.
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.fit_ckpt_path, weights_only=True)
        stopped_early = early_stop_reason(trainer)
        if stopped_early and trainer.is_global_zero:
            log.info(stopped_early)
        # Testing replaces the callback metrics; a resumed run with no epoch left has only its record's.
        fitted = {**record.validation, **trainer.callback_metrics}
        checkpoint = trainer.checkpoint_callback
        best = checkpoint.best_model_path if isinstance(checkpoint, ModelCheckpoint) else ""
        test = []
        if cfg.test:  # the best checkpoint; with checkpointing off (e.g. fast_dev_run) the final weights
            test = trainer.test(
                model, datamodule=datamodule, ckpt_path=best or None, verbose=False, weights_only=True
            )
        return report_training(trainer, config, fitted, test, started)
