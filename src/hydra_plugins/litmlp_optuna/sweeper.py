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
import contextlib
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from litmlp.runtime.sweeps.pruning import ALIVE, make_pruner

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)
# Each trial gets a Lightning callback that reports to its trial and prunes it.
PRUNING = "callbacks.optuna_pruning"
# Trial user attributes. A trial left running by a killed search: recorded as failed, tried again, not
# counted in n_trials. One asked beyond n_trials by searches running at once: failed, never run, not counted.
INTERRUPTED = "litmlp_interrupted"
SURPLUS = "litmlp_surplus"
OWNER = "litmlp_owner"  # "host pid-namespace pid token" of the search that asked it
UNNAMED_GRACE_S = 60.0  # a running trial without an owner is stale after this
# The launchers' job lines ("#3 : lr=0.01 ..."): the trial's bookkeeping overrides are left out.
LAUNCHER_LOGGERS = (
    "hydra._internal.core_plugins.basic_launcher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher",
    "hydra_plugins.litmlp_parallel.launcher",
)
_BOOKKEEPING = re.compile(r"\s(\+" + re.escape(PRUNING) + r"\.|hydra\.sweep\.subdir=)\S+")


class _WithoutBookkeeping(logging.Filter):
    """Takes the bookkeeping out of a launcher's job line (which may hold the storage URL's password)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if PRUNING in message or "hydra.sweep.subdir" in message:
            record.msg, record.args = _BOOKKEEPING.sub("", message), ()
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
    # Where the study lives: null, sqlite beside the sweeps; a database URL (postgresql://USER@HOST/DB) or
    # journal:FILE that searches on several machines share.
    storage: str | None = None
    # A trial another machine's search left running without a report for this long is taken as dead.
    stale_after_s: float = 3600.0
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
    """The trials that count towards `n_trials`: those asked (running or finished), but not those a killed
    search interrupted, nor those asked beyond `n_trials` by two searches at once. A point queued again
    (waiting) counts once a search asks it."""
    return sum(_counts(trial) for trial in study.get_trials(deepcopy=False))


def _counts(trial: "optuna.trial.FrozenTrial") -> bool:
    import optuna

    if trial.state == optuna.trial.TrialState.WAITING:
        return False
    return not (trial.user_attrs.get(INTERRUPTED) or trial.user_attrs.get(SURPLUS))


def _pruner(conf: DictConfig) -> "optuna.pruners.BasePruner":
    return make_pruner(conf.pruner, conf.pruner_warmup_epochs, conf.pruner_threshold)


def _this_machine() -> str:
    """The host and PID namespace: where a search's pid means that process (containers on one host with
    host networking share the hostname, not their PIDs)."""
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return f"{socket.gethostname()} {namespace}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _runs_of_a_trial(arguments: list[str]) -> list[list[str]]:
    """Each run a trial makes: one, or one per combination of the sweeps among `arguments` (`seed=0,1,2`,
    `data.fold=range(5)`), whose scores the trial averages."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(arguments)
    return [list(run) for batch in BasicSweeper.split_arguments(parsed, max_batch_size=None) for run in batch]


class OptunaSweeper(Sweeper):
    def __init__(self, **conf: Any) -> None:
        self.conf = OmegaConf.create(conf)
        self.spaces = {key: parse_space(key, text) for key, text in self.conf.params.items()}
        self.owner = f"{_this_machine()} {os.getpid()} {uuid.uuid4().hex[:8]}"
        self._running: set[int] = set()  # the ids of this search's trials not told yet

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        for name in LAUNCHER_LOGGERS:
            launcher_log = logging.getLogger(name)
            if not any(isinstance(existing, _WithoutBookkeeping) for existing in launcher_log.filters):
                launcher_log.addFilter(_WithoutBookkeeping())

    def _storage(self, sweep_dir: Path) -> str:
        from litmlp.runtime.sweeps.storage import absolute

        if self.conf.storage:
            return absolute(str(self.conf.storage))
        return f"sqlite:///{sweep_dir.parent.resolve() / f'{self.conf.study_name}.optuna.db'}"

    def sweep(self, arguments: list[str]) -> None:
        import optuna

        from litmlp.errors import SweepStopped
        from litmlp.runtime.sweeps.sampler import TrialSeededSampler
        from litmlp.runtime.sweeps.storage import open_storage

        assert self.config is not None
        assert self.launcher is not None
        sweep_dir = Path(self.config.hydra.sweep.dir)
        storage = self._storage(sweep_dir)
        if storage.startswith("sqlite:///"):  # the default beside the sweeps: its directory may be new
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        runs = _runs_of_a_trial(arguments)
        study = optuna.create_study(
            study_name=self.conf.study_name,
            storage=open_storage(storage),
            sampler=TrialSeededSampler(self.conf.seed),
            direction=self.conf.direction,
            pruner=_pruner(self.conf),
            load_if_exists=True,
        )
        self._recover_stale(study)
        if _counted(study) >= self.conf.n_trials:
            how_many = f"{self.conf.n_trials} trial{'s' if self.conf.n_trials != 1 else ''}"
            log.info(
                "study %s already has its %s%s; nothing to run (raise hydra.sweeper.n_trials to run more)",
                self.conf.study_name,
                how_many,
                self._best_text(study),
            )
            with contextlib.suppress(OSError):  # the directory reserved for this search's runs, if empty
                sweep_dir.rmdir()
            return
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        while (remaining := self.conf.n_trials - _counted(study)) > 0:
            asked = (self._ask(study) for _ in range(min(self.conf.n_jobs, remaining)))
            trials = [trial for trial in asked if trial is not None]
            if not trials:  # another search asked the last ones
                break
            batch = [
                self._run_overrides(storage, trial, run, index if len(runs) > 1 else None)
                for trial in trials
                for index, run in enumerate(runs)
            ]
            # A trial's run is numbered by its trial (asked one after another: consecutive numbers, unless
            # another search asked some in between; the run directories are named by trial all the same).
            try:
                self.validate_batch_is_legal(batch)  # a bad override: one line before any run
                with self._heartbeat(study):
                    results = self.launcher.launch(batch, initial_job_idx=trials[0].number * len(runs))
            except BaseException as stop:  # a stop signal, a bad override: the batch's trials don't count
                self._abandon(study, trials, again=isinstance(stop, SweepStopped))
                raise
            for number, trial in enumerate(trials):
                self._tell(study, trial, results[number * len(runs) : (number + 1) * len(runs)])
            self._recover_stale(study)
            self._write_study_summary(sweep_dir, storage, plot=False)  # current if this search is killed
        self._write_best(study, sweep_dir)
        self._write_study_summary(sweep_dir, storage, plot=True)

    @contextlib.contextmanager
    def _heartbeat(self, study: "optuna.Study") -> Iterator[None]:
        """While this search's trials run (a batch may queue some for long), it says they are alive, so
        that searches on other machines do not take them for stale."""
        stop = threading.Event()
        interval = max(1.0, min(60.0, self.conf.stale_after_s / 4))

        def beat() -> None:
            while not stop.wait(interval):
                for trial_id in list(self._running):
                    with contextlib.suppress(Exception):  # a trial told meanwhile, a storage hiccup
                        study._storage.set_trial_user_attr(trial_id, ALIVE, time.time())

        thread = threading.Thread(target=beat, name="litmlp-search-heartbeat", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _abandon(self, study: "optuna.Study", trials: list["optuna.Trial"], again: bool) -> None:
        """This search's trials that will not be told: recorded as interrupted (not counted) at once, and
        with `again`, their points queued for the next search."""
        import optuna

        for trial in trials:
            if trial._trial_id not in self._running:
                continue
            self._running.discard(trial._trial_id)
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED, True)
                study._storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL)
                if again:
                    study.enqueue_trial(trial.params)

    def _ask(self, study: "optuna.Study") -> "optuna.Trial | None":
        """A new trial, owned by this process; None when other searches already asked the last of
        `n_trials` (the trial is then recorded as failed, without running)."""
        import optuna

        trial = study.ask(self.spaces)
        study._storage.set_trial_user_attr(trial._trial_id, OWNER, self.owner)
        study._storage.set_trial_user_attr(trial._trial_id, ALIVE, time.time())
        self._running.add(trial._trial_id)
        # Waiting trials count here: Optuna creates a trial waiting, then claims it for its asker.
        before = [
            t
            for t in study.get_trials(deepcopy=False)
            if t.number < trial.number and not (t.user_attrs.get(INTERRUPTED) or t.user_attrs.get(SURPLUS))
        ]
        if len(before) < self.conf.n_trials:
            return trial
        study._storage.set_trial_user_attr(trial._trial_id, SURPLUS, True)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self._running.discard(trial._trial_id)
        return None

    def _run_overrides(
        self, storage: str, trial: "optuna.Trial", run: list[str], index: int | None
    ) -> list[str]:
        """A run of `trial`: its overrides, its sampled values and the bookkeeping that reaches the trial.
        Of a trial's several runs (seeds, folds) the first reports to the pruner."""
        return [
            *run,
            *(f"{key}={value}" for key, value in trial.params.items()),
            "test=false",  # a search compares validation results; test the winner afterwards
            f"+{PRUNING}._target_=litmlp.runtime.sweeps.optuna_pruning.OptunaPruning",
            f"+{PRUNING}.storage='{storage}'",
            f"+{PRUNING}.study_name={self.conf.study_name}",
            f"+{PRUNING}.trial_id={trial._trial_id}",
            f"+{PRUNING}.pruner={self.conf.pruner}",
            f"+{PRUNING}.pruner_warmup_epochs={self.conf.pruner_warmup_epochs}",
            f"+{PRUNING}.pruner_threshold={self.conf.pruner_threshold}",
            f"+{PRUNING}.report={'true' if index in (None, 0) else 'false'}",
            f"hydra.sweep.subdir={trial.number if index is None else f'{trial.number}.{index}'}",
        ]

    def _recover_stale(self, study: "optuna.Study") -> None:
        """Trials left running by a search that is gone (killed on this machine, or silent for
        `stale_after_s` on another) are recorded as failed and their points queued again."""
        import optuna

        for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if not self._stale(stale):
                continue
            try:  # the storage refuses a second recovery: another search queued its point already
                study._storage.set_trial_user_attr(stale._trial_id, INTERRUPTED, True)
                study._storage.set_trial_state_values(stale._trial_id, state=optuna.trial.TrialState.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
            study.enqueue_trial(stale.params)  # its point is tried again, as the next trial
            log.info(
                "trial %d was interrupted: recorded as failed, its parameters queued again", stale.number
            )

    def _stale(self, trial: "optuna.trial.FrozenTrial") -> bool:
        """Whether `trial`, running, was left by a search that is gone: its process has ended on this
        machine, or nothing (its search's heartbeat, its runs' reports) was heard of it for
        `stale_after_s`."""
        owner = str(trial.user_attrs.get(OWNER, ""))
        if owner == self.owner:
            return False
        # Epoch seconds of the last sign of life: a clock's time zone cannot make a trial look old.
        silent_for = time.time() - float(trial.user_attrs.get(ALIVE, 0.0))
        if not owner:  # asked a moment ago by a search about to name itself (or by an older litmlp)
            started = trial.datetime_start.timestamp() if trial.datetime_start else 0.0
            return time.time() - started > UNNAMED_GRACE_S and silent_for > UNNAMED_GRACE_S
        if silent_for > self.conf.stale_after_s:
            return True
        parts = owner.split(" ")  # host, PID namespace, pid, token
        # An owner written by an older litmlp ("host pid") names no PID namespace: only silence tells.
        return len(parts) == 4 and " ".join(parts[:2]) == _this_machine() and not _alive(int(parts[2]))

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

    def _tell(self, study: "optuna.Study", trial: "optuna.Trial", results: "Sequence[JobReturn]") -> None:
        """A trial's outcome from its runs: pruned when its first run was, failed when any run failed, else
        the mean of their scores. A trial another search took for stale meanwhile is left as it is."""
        import optuna

        self._running.discard(trial._trial_id)
        values = [result.return_value if result.status == JobStatus.COMPLETED else None for result in results]
        scores = [_score(value, self.conf.metric) if isinstance(value, dict) else None for value in values]
        try:
            if isinstance(values[0], dict) and values[0].get("status") == "pruned":
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            elif scores and all(score is not None for score in scores):
                if len(scores) > 1:
                    trial.set_user_attr("litmlp_run_scores", scores)
                study.tell(trial, sum(scores) / len(scores))  # type: ignore[arg-type]
            else:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
        except (ValueError, optuna.exceptions.UpdateFinishedTrialError):
            log.warning(
                "trial %d was recorded as interrupted by another search; its result is not kept", trial.number
            )

    def _best_text(self, study: "optuna.Study") -> str:
        import optuna

        if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            return ""
        best = study.best_trial
        return (
            f" (best trial {best.number}: {self.conf.metric or 'best score'} {best.value} with {best.params})"
        )

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
