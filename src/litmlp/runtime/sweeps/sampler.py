"""The Optuna search's sampler: TPE, seeded per trial by `seed + trial number`.

One seed for the whole search would make two searches that share a study (two machines started together)
draw the same points, and a continued search repeat the first one's. Seeding each trial by its number, which
the storage hands out once, keeps a search reproducible and gives every trial its own draw. TPE reads the
study's history at every trial, so a sampler per trial loses nothing; `constant_liar` keeps trials running
at once (parallel jobs, other machines) apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState


class TrialSeededSampler(BaseSampler):
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._samplers: dict[int, TPESampler] = {}

    def _for(self, trial: FrozenTrial) -> TPESampler:
        if trial.number not in self._samplers:
            self._samplers[trial.number] = TPESampler(seed=self.seed + trial.number, constant_liar=True)
        return self._samplers[trial.number]

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return self._for(trial).infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._for(trial).sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._for(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._for(trial).before_trial(study, trial)

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._for(trial).after_trial(study, trial, state, values)
        del self._samplers[trial.number]
