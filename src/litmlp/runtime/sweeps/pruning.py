"""The pruners an Optuna search may use. The sweeper builds one for the study, and every run builds the
same for its trial: Optuna keeps no pruner in its storage, and a run decides its own pruning."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

PRUNERS = ("median", "threshold", "none")
# A trial's user attribute: when its run last reported (time.time()). Searches on other machines read it to
# tell a trial being trained from one whose search is gone.
ALIVE = "litmlp_alive"


def make_pruner(kind: str, warmup_epochs: int, threshold: float) -> optuna.pruners.BasePruner:
    import optuna

    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=warmup_epochs)
    if kind == "threshold":
        return optuna.pruners.ThresholdPruner(lower=threshold, n_warmup_steps=warmup_epochs)
    if kind == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"hydra.sweeper.pruner={kind}: choose one of {', '.join(PRUNERS)}")
