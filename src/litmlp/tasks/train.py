"""`litmlp train`: build data, model and trainer from the config, fit, test the best checkpoint, report."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, cast

import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from litmlp.callbacks import ResumeCheckpoint, RunConfigInCheckpoint
from litmlp.checkpoint import CONFIG_KEY, checked_config, load_checkpoint
from litmlp.data import TabularDataModule
from litmlp.errors import LitmlpError
from litmlp.event_files import rewind_event_files
from litmlp.modules import Classifier
from litmlp.ranks import process_rank
from litmlp.tasks.build import build_callbacks, build_datamodule, build_loggers, build_module, build_trainer
from litmlp.tasks.distributed import distributed_job
from litmlp.tasks.lightning_logging import quiet_lightning
from litmlp.tasks.results import METRICS_FILE, as_floats, log_hparams, metrics_table, write_json_atomic
from litmlp.tasks.resume import Resume, plan_resume

log = logging.getLogger(__name__)


def _threads_per_parallel_run() -> int | None:
    """cores // n_jobs when a parallel launcher (joblib) runs this run among others, else None."""
    if not HydraConfig.initialized():
        return None
    n_jobs = HydraConfig.get().launcher.get("n_jobs")
    if not n_jobs:
        return None
    cores = os.cpu_count() or 1
    return max(1, cores // (cores if n_jobs < 0 else n_jobs))


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one training job, or continue one (`resume=`); returns what it writes to `metrics.json`."""
    quiet_lightning()
    started = time.perf_counter()
    resume = plan_resume(cfg) if cfg.resume else None
    if resume is not None:
        if resume.finished is not None:
            log.info(
                "%s already finished; nothing to resume (raise trainer.max_epochs to train on)",
                resume.run_dir,
            )
            return resume.finished
        cfg = resume.config
        if resume.saved_at is not None and process_rank() == 0:  # the event files are rank 0's
            dropped = rewind_event_files(resume.run_dir, resume.saved_at)
            log.info("Dropped %d TensorBoard events logged after the checkpoint", dropped)
        log.info("Resuming %s from %s", resume.run_dir, resume.checkpoint_path)
    output_dir = Path(cfg.paths.output_dir)
    threads = cfg.torch_threads or _threads_per_parallel_run()
    if threads:
        torch.set_num_threads(threads)
    log.info("torch threads: %d", torch.get_num_threads())
    if cfg.float32_matmul_precision:
        torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = build_datamodule(cfg.data)
    datamodule.setup("fit")  # bad data fails here, before any logger or checkpoint directory exists
    model = build_module(cfg.model, datamodule)
    if cfg.ckpt_path:
        start_from = load_checkpoint(cfg.ckpt_path)
        if CONFIG_KEY in start_from:  # not built here, but a file carrying a refused config is not used
            checked_config(start_from, cfg.ckpt_path, list(cfg.trusted_targets))
        try:
            model.load_state_dict(start_from["state_dict"])
        except RuntimeError as error:  # parameter shapes differ: another number of features or classes
            detail = next((line.strip() for line in str(error).splitlines() if "size mismatch" in line), "")
            raise LitmlpError(
                f"the weights in {cfg.ckpt_path} do not fit this model and data: {detail}"
            ) from None
        log.info("Starting from the weights of %s", cfg.ckpt_path)
    resolved = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    callbacks = [*build_callbacks(cfg.callbacks), RunConfigInCheckpoint(resolved)]
    if "optuna" in cfg:  # set by the Optuna sweeper for each trial
        from litmlp.callbacks.optuna_pruning import OptunaPruning

        callbacks.append(OptunaPruning(**OmegaConf.to_container(cfg.optuna)))  # type: ignore[arg-type]
    loggers = build_loggers(cfg.logger)
    trainer = build_trainer(cfg.trainer, callbacks, loggers)

    log.info("Training %s on %s in %s", type(model.net).__name__, type(datamodule).__name__, output_dir)
    with distributed_job(trainer):
        return _fit_and_test(cfg, trainer, model, datamodule, resume, started)


def _fit_and_test(
    cfg: DictConfig,
    trainer: pl.Trainer,
    model: Classifier,
    datamodule: TabularDataModule,
    resume: Resume | None,
    started: float,
) -> dict[str, Any]:
    output_dir = Path(cfg.paths.output_dir)
    # weights_only=True: checkpoints are read as tensors and plain containers, never as pickled code.
    ckpt_path = resume.checkpoint_path if resume else None
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)

    val_metrics = as_floats({k: v for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
    best = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None)
    last = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ResumeCheckpoint)), None)
    best_path = (best.best_model_path or None) if best else None
    last_path = (last.last_model_path or None) if last else None
    epochs_trained, global_step = trainer.current_epoch, trainer.global_step
    if global_step == 0 and last_path:
        # strategy=ddp_spawn fits in worker processes, and this one gets back only the weights and the
        # logged metrics: the run's progress and best epoch come from its last checkpoint.
        last_state = load_checkpoint(last_path)
        model.on_load_checkpoint(last_state)
        epochs_trained, global_step = last_state["epoch"] + 1, last_state["global_step"]
    test_metrics: dict[str, float] = {}
    if cfg.test:
        # The best checkpoint; with checkpointing off (e.g. fast_dev_run) the final weights.
        results = trainer.test(
            model, datamodule=datamodule, ckpt_path=best_path, verbose=False, weights_only=True
        )
        test_metrics = as_floats(results[0]) if results else {}

    summary: dict[str, Any] = {
        "val": val_metrics,
        "test": test_metrics,
        "val_acc_best": model.val_acc_best,
        "best_epoch": model.val_acc_best_epoch,
        "epochs_trained": epochs_trained,
        "global_step": global_step,
        "best_checkpoint": best_path,
        "last_checkpoint": last_path,
        "wall_time_s": time.perf_counter() - started,
    }
    if trainer.is_global_zero:
        write_json_atomic(output_dir / METRICS_FILE, summary)
        log_hparams(trainer.loggers, cfg, {"val/acc_best": model.val_acc_best, **test_metrics})
        log.info(
            "Results (best val acc %.6f at epoch %d):\n%s",
            model.val_acc_best,
            model.val_acc_best_epoch,
            metrics_table({"val": val_metrics, "test": test_metrics}),
        )
        log.info("Run directory: %s", output_dir)
    else:
        # Each rank synchronised the same metrics; its log says what it computed.
        rank_results = json.dumps({"val": val_metrics, "test": test_metrics}, sort_keys=True)
        log.info("Results on rank %d: %s", trainer.global_rank, rank_results)
    return summary
