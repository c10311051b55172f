"""`litmlp eval ckpt_path=...`: test a checkpoint with the model and data config saved inside it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from litmlp.checkpoint import load_run_checkpoint
from litmlp.tasks.build import build_datamodule, build_loggers, build_module, build_trainer
from litmlp.tasks.distributed import distributed_job
from litmlp.tasks.lightning_logging import quiet_lightning
from litmlp.tasks.results import METRICS_FILE, as_floats, metrics_table, write_json_atomic

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    quiet_lightning()
    output_dir = Path(cfg.paths.output_dir)
    if cfg.float32_matmul_precision:
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    checkpoint, run_cfg = load_run_checkpoint(cfg.ckpt_path, list(cfg.trusted_targets))

    datamodule = build_datamodule(run_cfg.data)
    datamodule_state = checkpoint.get(type(datamodule).__qualname__)
    if datamodule_state:
        datamodule.load_state_dict(datamodule_state)
    model = build_module(run_cfg.model, datamodule)
    model.load_state_dict(checkpoint["state_dict"])
    model.on_load_checkpoint(checkpoint)

    trainer = build_trainer(cfg.trainer, callbacks=[], loggers=build_loggers(cfg.logger))
    with distributed_job(trainer):
        results = trainer.test(model, datamodule=datamodule, verbose=False)
    test_metrics = as_floats(results[0]) if results else {}
    summary = {"checkpoint": str(Path(cfg.ckpt_path).resolve()), "test": test_metrics}
    if trainer.is_global_zero:
        write_json_atomic(output_dir / METRICS_FILE, summary)
        log.info("Results for %s:\n%s", cfg.ckpt_path, metrics_table({"test": test_metrics}))
        log.info("Run directory: %s", output_dir)
    return summary
