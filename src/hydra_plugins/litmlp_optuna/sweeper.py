"""Optuna search as a Hydra sweeper: each trial is one `litmlp train` run launched by the configured launcher.

Search spaces are strings per config key: `float(1e-4, 1e-1, log)`, `int(16, 256)`, `int(16, 256, log)`,
`choice(64, 128, 256)`. The study lives in `storage` (sqlite on disk by default), so running the same
search again continues it: trials a killed search left running are recorded as failed and tried again,
and only the trials still missing from `n_trials` run (an interrupted trial does not count). Runs report
`val/acc` each epoch and are pruned by `pruner`. A trial's run is numbered by its trial number (the job
line `#4`, the run directory `4/`, the log's "best trial 4" are one trial).
"""

# No `from __future__ import annotations`: Hydra imports this module while scanning for plugins in a way
# that leaves it out of sys.modules, where dataclasses look up string annotations.
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from litmlp.runtime.sweeps.pruning import make_pruner

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
# Each trial gets a Lightning callback that reports to its trial and prunes it.
PRUNING = "callbacks.optuna_pruning"
# A trial left running by a killed search: recorded as failed, tried again, not counted in n_trials.
INTERRUPTED = "litmlp_interrupted"
# The launchers' job lines ("#3 : lr=0.01 ..."): the trial's bookkeeping overrides are left out.
LAUNCHER_LOGGERS = (
    "hydra._internal.core_plugins.basic_launcher",
    "hydra_plugins.hydra_joblib_launcher._core",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
)
_BOOKKEEPING = re.compile(r"\s\+" + re.escape(PRUNING) + r"\.\S+")


class _WithoutBookkeeping(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and PRUNING in record.msg:
            record.msg = _BOOKKEEPING.sub("", record.msg)
        return True


_SPACE = re.compile(r"^\s*(float|int|choice)\((.*)\)\s*$")


@dataclass
class LitmlpOptunaSweeperConf:
    _target_: str = "hydra_plugins.litmlp_optuna.sweeper.OptunaSweeper"
    params: dict[str, str] = field(default_factory=dict)
    # What a trial is scored by: None, the best value of the metric its checkpoint callback monitored;
    # else a metric in the run's metrics.json (`val/acc`, `test/acc`).
    metric: str | None = None
    direction: str = "maximize"
    n_trials: int = 20
    n_jobs: int = 1
    seed: int = 0
    study_name: str = "litmlp"
    storage: str | None = None
    pruner: str = "median"  # median, threshold or none
    pruner_warmup_epochs: int = 2
    pruner_threshold: float = 0.0  # for `threshold`: prune a run whose val/acc is below this


ConfigStore.instance().store(group="hydra/sweeper", name="litmlp_optuna", node=LitmlpOptunaSweeperConf)


def parse_space(key: str, text: str) -> "optuna.distributions.BaseDistribution":
    import optuna

    match = _SPACE.match(str(text))
    if not match:
        raise ValueError(f"search space for '{key}': '{text}' is not float(..), int(..) or choice(..)")
    kind, args = match.group(1), [part.strip() for part in match.group(2).split(",") if part.strip()]
    log_scale = "log" in args
    numbers = [arg for arg in args if arg != "log"]
    if kind == "float":
        return optuna.distributions.FloatDistribution(float(numbers[0]), float(numbers[1]), log=log_scale)
    if kind == "int":
        return optuna.distributions.IntDistribution(int(numbers[0]), int(numbers[1]), log=log_scale)
    return optuna.distributions.CategoricalDistribution([_scalar(arg) for arg in numbers])


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _score(results: dict, metric: str | None) -> float | None:
    """A trial's score from what `litmlp train` returned (its metrics.json)."""
    if metric is None:
        value = results.get("best_score")
    else:
        stage = results.get(metric.split("/", 1)[0])
        value = stage.get(metric) if isinstance(stage, dict) else results.get(metric)
    return None if value is None else float(value)


def _counted(study: "optuna.Study") -> int:
    """The trials that count towards `n_trials`: all but those a killed search interrupted."""
    return sum(not trial.user_attrs.get(INTERRUPTED) for trial in study.get_trials(deepcopy=False))


def _pruner(conf: DictConfig) -> "optuna.pruners.BasePruner":
    return make_pruner(conf.pruner, conf.pruner_warmup_epochs, conf.pruner_threshold)


class OptunaSweeper(Sweeper):
    def __init__(self, **conf: Any) -> None:
        self.conf = OmegaConf.create(conf)
        self.spaces = {key: parse_space(key, text) for key, text in self.conf.params.items()}

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        for name in LAUNCHER_LOGGERS:
            launcher_log = logging.getLogger(name)
            if not any(isinstance(existing, _WithoutBookkeeping) for existing in launcher_log.filters):
                launcher_log.addFilter(_WithoutBookkeeping())

    def _storage(self, sweep_dir: Path) -> str:
        if self.conf.storage:
            return str(self.conf.storage)
        return f"sqlite:///{sweep_dir.parent / f'{self.conf.study_name}.optuna.db'}"

    def _existing_trials(self, storage: str) -> list["optuna.trial.FrozenTrial"]:
        import optuna

        try:
            return optuna.load_study(study_name=self.conf.study_name, storage=storage).trials
        except KeyError:  # no such study yet
            return []

    def sweep(self, arguments: list[str]) -> None:
        import optuna

        assert self.config is not None
        assert self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        storage = self._storage(sweep_dir)
        existing = self._existing_trials(storage)
        study = optuna.create_study(
            study_name=self.conf.study_name,
            storage=storage,
            # Seeded by the seed and the trials so far: a continued search draws new points.
            sampler=optuna.samplers.TPESampler(seed=self.conf.seed + len(existing)),
            direction=self.conf.direction,
            pruner=_pruner(self.conf),
            load_if_exists=True,
        )
        for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            # Left running by a search that was killed: it will not report any more.
            study._storage.set_trial_user_attr(stale._trial_id, INTERRUPTED, True)
            study.tell(stale.number, state=optuna.trial.TrialState.FAIL)
            study.enqueue_trial(stale.params)  # its point is tried again, as the next trial
            log.info(
                "trial %d was interrupted: recorded as failed, its parameters queued again", stale.number
            )
        while (remaining := self.conf.n_trials - _counted(study)) > 0:
            trials = [study.ask(self.spaces) for _ in range(min(self.conf.n_jobs, remaining))]
            batch = [
                [
                    *arguments,
                    *(f"{key}={value}" for key, value in trial.params.items()),
                    "test=false",  # a search compares validation results; test the winner afterwards
                    f"+{PRUNING}._target_=litmlp.runtime.sweeps.optuna_pruning.OptunaPruning",
                    f"+{PRUNING}.storage='{storage}'",
                    f"+{PRUNING}.study_name={self.conf.study_name}",
                    f"+{PRUNING}.trial_id={trial._trial_id}",
                    f"+{PRUNING}.pruner={self.conf.pruner}",
                    f"+{PRUNING}.pruner_warmup_epochs={self.conf.pruner_warmup_epochs}",
                    f"+{PRUNING}.pruner_threshold={self.conf.pruner_threshold}",
                ]
                for trial in trials
            ]
            # The batch's jobs are numbered by its trials (asked one after another: consecutive numbers).
            results = self.launcher.launch(batch, initial_job_idx=trials[0].number)
            for trial, result in zip(trials, results, strict=True):
                self._tell(study, trial, result)
            self._write_study_summary(sweep_dir, storage, plot=False)  # current if this search is killed
        self._write_best(study, sweep_dir)
        self._write_study_summary(sweep_dir, storage, plot=True)

    def study_dir(self, sweep_dir: Path) -> Path:
        """Where the study's summary lives: beside the sweep directories of its searches."""
        return sweep_dir.parent / self.conf.study_name

    def _write_study_summary(self, sweep_dir: Path, storage: str, plot: bool) -> None:
        """The summary of every run of the study, whichever search (invocation) ran it."""
        from litmlp.runtime.sweeps.summary import study_runs, write_summary

        runs = study_runs(sweep_dir.parent, self.conf.study_name, storage)
        if runs:
            study_dir = self.study_dir(sweep_dir)
            study_dir.mkdir(exist_ok=True)
            write_summary(study_dir, plot=plot, runs=runs)

    def _tell(self, study: "optuna.Study", trial: "optuna.Trial", result: Any) -> None:
        import optuna

        value = result.return_value if result.status == JobStatus.COMPLETED else None
        score = _score(value, self.conf.metric) if isinstance(value, dict) else None
        if isinstance(value, dict) and value.get("status") == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        elif score is not None:
            study.tell(trial, score)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)

    def _write_best(self, study: "optuna.Study", sweep_dir: Path) -> None:
        import optuna

        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not done:
            log.warning("no trial of study %s completed", study.study_name)
            return
        best = study.best_trial
        content = {
            "study": study.study_name,
            "trial": best.number,
            self.conf.metric or "best_score": best.value,
            "params": best.params,
            "trials": len(study.trials),
        }
        OmegaConf.save(OmegaConf.create(content), sweep_dir / "best_params.yaml")
        log.info(
            "best trial %d: %s = %s with %s",
            best.number,
            self.conf.metric or "best score",
            best.value,
            best.params,
        )
