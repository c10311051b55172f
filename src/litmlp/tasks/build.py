"""Turn a composed config into the DataModule, LightningModule, callbacks, loggers and Trainer."""

from __future__ import annotations

import os
from typing import Any

import lightning.pytorch as pl
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.environments import SLURMEnvironment
from lightning.pytorch.plugins.io import AsyncCheckpointIO
from omegaconf import DictConfig, OmegaConf

from litmlp.callbacks.process_group import ReleaseProcessGroupAtExit
from litmlp.data import TabularDataModule
from litmlp.errors import LitmlpError
from litmlp.modules import Classifier
from litmlp.plugins import AtomicCheckpointIO


def build_datamodule(data_cfg: DictConfig) -> TabularDataModule:
    return instantiate(data_cfg, _convert_="all")


def build_module(model_cfg: DictConfig, datamodule: TabularDataModule) -> Classifier:
    """The net's input and output sizes come from the data, not from the model config."""
    net = instantiate(model_cfg.net, _convert_="all")(
        num_inputs=datamodule.num_features, num_outputs=datamodule.num_classes
    )
    # An empty scheduler config (`model/scheduler=none`) means a constant learning rate.
    scheduler = instantiate(model_cfg.scheduler, _convert_="all") if model_cfg.scheduler else None
    # Built from a plain container: the typed schema would refuse an nn.Module as the value of `net`.
    spec = OmegaConf.to_container(model_cfg, resolve=True)
    module = instantiate(spec, net=net, num_classes=datamodule.num_classes, scheduler=scheduler)
    if not isinstance(module, Classifier):
        raise LitmlpError(
            f"model._target_ must be litmlp.modules.Classifier or a subclass, not {model_cfg._target_}"
        )
    return module


def build_callbacks(callbacks_cfg: DictConfig) -> list[pl.Callback]:
    """One callback per entry; `callbacks.<name>=null` switches that one off."""
    return [instantiate(cfg, _convert_="all") for cfg in callbacks_cfg.values() if cfg]


def build_loggers(logger_cfg: DictConfig) -> list[Logger]:
    return [instantiate(cfg, _convert_="all") for cfg in logger_cfg.values() if cfg]


def build_trainer(
    trainer_cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Logger], **overrides: Any
) -> pl.Trainer:
    if not loggers:
        # LearningRateMonitor refuses to run without a logger; `logger=none` should simply not record rates.
        callbacks = [callback for callback in callbacks if not isinstance(callback, LearningRateMonitor)]
    # Checkpoints are written atomically, in a background thread (tensors are copied first, so training
    # can go on): the fsyncs cost ~14% of an epoch of the default model when done in line. Lightning waits
    # for pending writes when fit, validate or test ends, including on an exception.
    checkpoint_io = AsyncCheckpointIO(AtomicCheckpointIO())
    slurm = _cluster_environment()
    plugins: list[Any] = [checkpoint_io, *slurm]
    logger = loggers or False
    callbacks = [*callbacks, ReleaseProcessGroupAtExit()]
    trainer = instantiate(trainer_cfg, callbacks=callbacks, logger=logger, plugins=plugins, **overrides)
    _check_ranks_match_the_launcher(trainer, under_slurm=bool(slurm))
    return trainer


def _check_ranks_match_the_launcher(trainer: pl.Trainer, *, under_slurm: bool) -> None:
    """torchrun and srun start the ranks themselves; the trainer must count as many. Otherwise a DDP
    trainer fails at fit time with Lightning's traceback, and a one-device trainer has every rank train
    the whole run on its own, all writing checkpoints into one run directory."""
    if os.environ.get("TORCHELASTIC_RUN_ID") is not None:
        launcher, started = "torchrun", int(os.environ["WORLD_SIZE"])
    elif under_slurm:
        launcher, started = "SLURM", int(os.environ.get("SLURM_NTASKS", "1"))
    else:
        return
    runs = trainer.num_devices * trainer.num_nodes
    if runs != started:
        raise LitmlpError(
            f"{launcher} started {started} ranks, but the trainer runs {runs} (trainer.devices="
            f"{trainer.num_devices} x trainer.num_nodes={trainer.num_nodes}); use a DDP trainer "
            f"(trainer=ddp or trainer=ddp_cpu) with devices x num_nodes = {started}"
        )


def _cluster_environment() -> list[SLURMEnvironment]:
    """SLURM's ranks for the tasks srun started, with Lightning's own SIGUSR1 requeue off: ResumeCheckpoint
    saves a resumable checkpoint and requeues. Lightning's detection alone skips jobs named "bash" or
    "interactive" (srun inside salloc), whose tasks would then each start ranks of their own."""
    in_srun = "SLURM_STEP_ID" in os.environ and int(os.environ.get("SLURM_NTASKS", "1")) > 1
    if in_srun or SLURMEnvironment.detect():
        return [SLURMEnvironment(auto_requeue=False)]
    return []
