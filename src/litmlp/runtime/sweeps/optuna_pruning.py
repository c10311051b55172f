"""Reports `val/acc` after every validation to the Optuna trial this run is, and stops the run when the
study's pruner says so. The Optuna sweeper adds it to every trial's runs (`+callbacks.optuna_pruning=...`);
of a trial's several runs (seeds, folds) only the first reports (`report`). Each report also says the run is
alive, which tells searches on other machines that the trial is not stale."""

from __future__ import annotations

import time

import lightning.pytorch as pl

from litmlp.errors import RunPruned
from litmlp.runtime.sweeps.pruning import ALIVE, make_pruner
from litmlp.runtime.sweeps.storage import open_storage


class OptunaPruning(pl.Callback):
    def __init__(
        self,
        storage: str,
        study_name: str,
        trial_id: int,
        pruner: str = "median",
        pruner_warmup_epochs: int = 0,
        pruner_threshold: float = 0.0,
        monitor: str = "val/acc",
        report: bool = True,
    ) -> None:
        import optuna  # only a search needs it

        study = optuna.load_study(
            study_name=study_name,
            storage=open_storage(storage),
            pruner=make_pruner(pruner, pruner_warmup_epochs, pruner_threshold),
        )
        self.trial = optuna.trial.Trial(study, trial_id)
        self.monitor = monitor
        self.report = report

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import optuna

        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        epoch = trainer.current_epoch
        prune = False
        if trainer.is_global_zero:  # one report per epoch; the value is already synchronised across ranks
            try:
                self.trial.set_user_attr(ALIVE, time.time())
                if self.report:
                    self.trial.report(float(value), step=epoch)
                    prune = self.trial.should_prune()
            except optuna.exceptions.UpdateFinishedTrialError:  # another search took the trial for stale
                self.report = False
        if trainer.strategy.broadcast(prune, src=0):  # every rank stops at the same epoch
            raise RunPruned(f"pruned by the search after epoch {epoch} ({self.monitor} {float(value):.6f})")
