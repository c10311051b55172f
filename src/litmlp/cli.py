"""The `litmlp` command: `litmlp <command> [overrides] [hydra flags]`, one Hydra app per command.

`litmlp train ...` composes `conf/train.yaml` with the overrides and calls `litmlp.tasks.train.train(cfg)`;
the runtime (`litmlp.runtime`) attaches at two points: `before_compose` and `run_task`. Only the standard
library is imported up front, so `litmlp --help` is instant; the rest when a command runs.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litmlp.layout import ERROR_FILE, PRUNED_FILE  # standard library only

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from litmlp.runtime.ranks import AnnouncedJob

# command -> (task module in litmlp.tasks, its function, one-line description)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("train", "train", "fit a model, then test its best checkpoint"),
    "eval": ("evaluate", "evaluate", "test a checkpoint: litmlp eval ckpt_path=PATH"),
    "predict": (
        "predict",
        "predict",
        "predict a file: litmlp predict ckpt_path=PATH input=FILE output=OUT.csv",
    ),
    "export": (
        "export",
        "export",
        "export a checkpoint: litmlp export ckpt_path=PATH format=torchscript|onnx",
    ),
    "serve": (
        "serve",
        "serve",
        "serve a checkpoint over HTTP: litmlp serve ckpt_path=PATH [port=8000] [host=127.0.0.1]",
    ),
}

USAGE = """usage: litmlp <command> [key=value ...] [group=option ...] [hydra flags]

commands:
{commands}

Every command takes Hydra overrides and flags, for example:
  litmlp train model.optimizer.lr=0.01 data.batch_size=64 trainer=cpu
  litmlp train -m seed=0,1,2              run a sweep (multirun)
  litmlp train --cfg job                  print the composed config and exit
  litmlp train --help                     list the config groups and their options
  litmlp eval ckpt_path=logs/train/runs/<run>/checkpoints/last.ckpt

Set LITMLP_DEBUG=1 to see full tracebacks."""


def _usage() -> str:
    descriptions = {name: description for name, (_, _, description) in COMMANDS.items()}
    descriptions["summarize"] = "(re)write a sweep's summary: litmlp summarize SWEEP_DIR"
    descriptions["inspect"] = "show a checkpoint's stored config and targets: litmlp inspect ckpt_path=PATH"
    width = max(map(len, descriptions))
    lines = [f"  {name:<{width}}  {description}" for name, description in descriptions.items()]
    return USAGE.format(commands="\n".join(lines))


def _log_to_files(message: str, error: BaseException | None = None) -> None:
    """Record the error (and its traceback, if given) in the run's log file, not on the console."""
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    record = logging.LogRecord("litmlp", logging.ERROR, __file__, 0, message, None, exc_info)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


class _App:
    """The Hydra task function of one command; turns user errors into one line and an exit code.

    Errors are caught inside the job: an exception escaping it makes Hydra print a second line of its own.
    """

    def __init__(self, command: str, *, launched_rank: bool = False) -> None:
        self.command = command
        self.launched_rank = launched_rank  # started by Lightning's launcher in rank 0, which reports
        self.exit_code = 0
        self.debug = os.environ.get("LITMLP_DEBUG", "") not in ("", "0")

    def fail(self, message: str, exit_code: int, error: BaseException | None = None) -> None:
        from hydra.core.hydra_config import HydraConfig

        _say(_line(self.command, message))
        _log_to_files(message, error)
        if HydraConfig.initialized():
            # The run directory says why it has no metrics.json; sweep summaries read this.
            from litmlp.files import replacing

            # One line, written by rename: a link named error.txt is replaced, never written through.
            try:
                with replacing(Path(HydraConfig.get().runtime.output_dir) / ERROR_FILE) as partial:
                    partial.write_text(" ".join(message.split("\n")) + "\n")
            except OSError:
                pass  # a full disk: the console line is the report
        self.exit_code = exit_code

    def __call__(self, cfg: DictConfig) -> Any:
        """The task's result (a sweeper reads it), or None when the run failed.

        A stop signal ends the command where it is (`StopRequested`); during training's steps the
        runtime's ResumeCheckpoint takes over and stops at the next step, after saving a checkpoint.
        """
        # A signal ignored when the command started (SIGINT of a background job, `nohup`) stays ignored;
        # SIGPIPE is ignored by Python itself and stands for a closed console (litmlp.runtime.console).
        from litmlp.runtime.console import ignored_at_start, note_ignored_signals

        note_ignored_signals(_STOP_SIGNALS)
        previous = {
            signum: signal.signal(signum, _stop_requested)
            for signum in _STOP_SIGNALS
            if not ignored_at_start(signum)
        }
        try:
            return self._run(cfg)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _run(self, cfg: DictConfig) -> Any:
        from hydra.core.hydra_config import HydraConfig
        from hydra.errors import HydraException
        from hydra.types import RunMode
        from omegaconf import OmegaConf
        from omegaconf.errors import OmegaConfBaseException

        from litmlp import runtime
        from litmlp.config.errors import describe_config_error
        from litmlp.errors import (
            BadValueError,
            LitmlpError,
            RunInterrupted,
            RunPruned,
            StopRequested,
            UsageError,
            stopped_by,
        )
        from litmlp.files import no_space
        from litmlp.runtime.resume_run import how_to_continue, resume_command

        module_name, function_name, _ = COMMANDS[self.command]
        try:
            missing = _missing_keys(OmegaConf.to_container(cfg, resolve=False))
            if missing:
                keys = ", ".join(missing)
                raise UsageError(
                    f"missing required value: {keys} (set it on the command line: {missing[0]}=...)"
                )

            def load_task() -> Any:  # imported once the config is complete: a refused one costs no import
                task = getattr(importlib.import_module(f"litmlp.tasks.{module_name}"), function_name)
                _collect_as_usual()
                return task

            return runtime.run_task(self.command, load_task, cfg)
        except RunPruned as pruned:
            run_dir = Path(HydraConfig.get().runtime.output_dir)
            (run_dir / PRUNED_FILE).write_text(f"{pruned}\n")
            logging.getLogger("litmlp").info("%s: %s", run_dir.name, pruned)  # console and the run's log
            return {"status": "pruned"}
        except LitmlpError as error:
            if self.debug:
                raise
            self.fail(str(error), error.exit_code)
        except StopRequested as stop:
            _ignore_stops()  # Lightning's teardown put its handlers back: none may interrupt this
            self.exit_code = 128 + signal.Signals[stop.signal_name].value
            if self.command == "serve":  # how a server is ended: not a failure
                self.exit_code = 0
                _say(f"litmlp serve: {stop}")
            elif self.command == "train":
                if not self.launched_rank:  # rank 0 stopped too and says so
                    run_dir = Path(HydraConfig.get().runtime.output_dir)
                    _say(f"litmlp train: {stop}; {how_to_continue(run_dir)}")
            else:
                # Files being written were removed on the way out (litmlp.files.replacing).
                _say(f"litmlp {self.command}: {stop}; nothing was written")
            self._end_sweep()
        except RunInterrupted as stop:
            _ignore_stops()
            self.exit_code = stop.exit_code
            if not self.launched_rank:  # rank 0 stopped at the same step and says so
                _say(
                    f"litmlp {self.command}: {stopped_by(stop.signal_name)} after saving a checkpoint; "
                    f"continue with: {resume_command(stop.run_dir)}"
                )
            self._end_sweep()
        except (HydraException, OmegaConfBaseException) as error:
            if self.debug:
                raise
            cause = error.__cause__
            if isinstance(cause, BadValueError):
                self.fail(describe_config_error(error), cause.exit_code)
            elif isinstance(cause, LitmlpError):
                self.fail(str(cause), cause.exit_code)
            else:
                self.fail(describe_config_error(error), 2)
        except Exception as error:
            # One line, the traceback in the run's log. In a sweep one run's crash (a bad combination, out
            # of memory) must not stop the others: it is recorded as failed with its error line.
            if self.debug:
                raise
            message = describe_unexpected(error)
            in_sweep = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
            if in_sweep and message.startswith("internal error"):
                message = f"{type(error).__name__}: {_first_line(error)}"
            if self.command == "train" and no_space(error) is not None:
                # The previous checkpoint was kept (litmlp.files.replacing); the run can go on from it.
                run_dir = Path(HydraConfig.get().runtime.output_dir)
                message += f"; free some space, then {how_to_continue(run_dir)}"
            self.fail(message, 1, error)

    def _end_sweep(self) -> None:
        """In a sweep, a stop signal ends the sweep, not just its current run."""
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        from litmlp.errors import SweepStopped

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise SweepStopped(self.exit_code, HydraConfig.get().sweep.dir)


_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGPIPE") if hasattr(signal, name)
)


def _ignore_stops() -> None:
    """No further stop signal interrupts the way out."""
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)


def _stop_requested(signum: int, frame: Any) -> None:
    from litmlp.errors import StopRequested
    from litmlp.runtime.console import is_a_stop

    if not is_a_stop(signum):
        return
    _ignore_stops()  # once: another signal must not interrupt the clean-up
    raise StopRequested(signal.Signals(signum).name)


def _say(line: str) -> None:
    """A line on stderr in one write: the lines of runs that share a console (a parallel sweep, with
    PYTHONUNBUFFERED set) are never mixed within a line."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _line(command: str, message: str) -> str:
    """What the console shows of an error: one line."""
    kind = "" if message.startswith("internal error") else "error: "
    return f"litmlp {command}: {kind}{message}"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def describe_unexpected(error: BaseException) -> str:
    """One line for an exception litmlp did not turn into its own error: a config file that does not
    parse, a path the system refused, or an internal error (its traceback goes to the run's log)."""
    from litmlp.config.errors import describe_yaml_error

    broken_yaml = describe_yaml_error(error)
    if broken_yaml is not None:
        return broken_yaml
    from litmlp.files import no_space, os_error_reason

    full = no_space(error)
    if full is not None:  # a writer may have wrapped it
        error = full
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {os_error_reason(error)}"
    return f"internal error: {type(error).__name__}: {_first_line(error)} (LITMLP_DEBUG=1 for the traceback)"


def _missing_keys(node: Any, path: str = "") -> list[str]:
    """Keys left `???`, found without resolving anything (some values resolve only once data is built).
    A `_partial_` node's are the arguments its call supplies."""
    if isinstance(node, dict):
        if node.get("_partial_"):
            return []
        found = (_missing_keys(value, f"{path}.{key}" if path else str(key)) for key, value in node.items())
        return sorted(key for keys in found for key in keys)
    return [path] if node == "???" else []


def _summarize_stopped_sweep(sweep_dir: Path) -> None:
    """A stopped sweep skips Hydra's end-of-sweep callbacks: its summary is written here."""
    from litmlp.errors import LitmlpError
    from litmlp.runtime.sweeps.summary import write_summary

    with contextlib.suppress(LitmlpError, OSError):  # nothing to summarize
        write_summary(sweep_dir, plot=False)


def _failed_runs_of_last_sweep() -> str:
    """'N of M runs failed ...' if the sweep this process just ran had failures, else ''."""
    if "litmlp.runtime.sweeps.callback" not in sys.modules:
        return ""
    from litmlp.runtime.sweeps.callback import SweepSummary

    if SweepSummary.last is None:
        return ""
    sweep_dir, rows = SweepSummary.last
    failed = sum(row.status == "failed" for row in rows)
    return f"{failed} of {len(rows)} runs failed; see {sweep_dir / 'summary.md'}" if failed else ""


def _summarize(arguments: list[str]) -> int:
    from litmlp.errors import LitmlpError
    from litmlp.runtime.sweeps.summary import summary_line, write_summary

    if len(arguments) != 1:
        _say("usage: litmlp summarize SWEEP_DIR")
        return 2
    sweep_dir = Path(arguments[0])
    try:
        rows = write_summary(sweep_dir)
    except LitmlpError as error:
        _say(f"litmlp summarize: error: {error}")
        return 1
    print((sweep_dir / "summary.md").read_text(), end="")
    print(summary_line(rows, sweep_dir))
    return 0


def _inspect(arguments: list[str]) -> int:
    """`litmlp inspect ckpt_path=PATH [trusted_targets=[...]]`: exit 0 when every target may be built."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from litmlp.errors import LitmlpError
    from litmlp.runtime.inspect_checkpoint import inspect_checkpoint

    values: dict[str, object] = {}
    try:
        for override in OverridesParser.create().parse_overrides(arguments):
            if override.key_or_group not in ("ckpt_path", "trusted_targets"):
                raise LitmlpError(
                    f"unknown key '{override.key_or_group}' (inspect takes ckpt_path, trusted_targets)"
                )
            values[override.key_or_group] = override.value()
    except (LitmlpError, HydraException) as error:
        _say(f"litmlp inspect: error: {error}")
        return 2
    if "ckpt_path" not in values:
        _say("usage: litmlp inspect ckpt_path=PATH [trusted_targets=[prefix.]]")
        return 2
    trusted = values.get("trusted_targets", [])
    try:
        report, safe = inspect_checkpoint(
            Path(str(values["ckpt_path"])),
            [str(t) for t in trusted] if isinstance(trusted, list) else [str(trusted)],
        )
    except LitmlpError as error:
        _say(f"litmlp inspect: error: {error}")
        return 1
    print(report)
    return 0 if safe else 1


def _run_hydra_app(command: str, overrides: list[str], job: AnnouncedJob | None = None) -> int:
    """Run the command's Hydra app; `job`: this process is a rank Lightning started to join that job."""
    import hydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from litmlp import runtime
    from litmlp.config import config_dir, register
    from litmlp.config.errors import describe_config_error
    from litmlp.errors import LitmlpError, StopRequested, SweepStopped
    from litmlp.runtime.console import guard_console

    guard_console()  # before Hydra's logging and the progress bar take hold of the console
    # A log line that cannot be written (a full disk, a closed console) is dropped without a traceback;
    # the write that matters (a checkpoint, metrics.json) reports it.
    logging.raiseExceptions = False
    app = _App(command, launched_rank=job is not None)
    # Hydra then raises its errors (bad overrides, unknown options) instead of printing a multi-line report.
    os.environ["HYDRA_FULL_ERROR"] = "1"
    register()
    main_function = hydra.main(config_path=str(config_dir()), config_name=command, version_base="1.3")(app)
    try:
        sys.argv = [sys.argv[0], *runtime.before_compose(command, overrides, job)]
        main_function()
        sweep_failures = _failed_runs_of_last_sweep()
        if sweep_failures:  # whatever each run's own code was, the sweep's says: some runs failed
            app.exit_code = 1
            _say(f"litmlp {command}: {sweep_failures}")
    except LitmlpError as error:
        if app.debug:
            raise
        app.fail(str(error), error.exit_code)
    except (HydraException, OmegaConfBaseException) as error:
        if app.debug:
            raise
        app.fail(describe_config_error(error), 2)
    except KeyboardInterrupt:
        _say(f"litmlp {command}: interrupted")
        return 130
    except SweepStopped as stop:  # the run said how it stopped
        _summarize_stopped_sweep(Path(stop.sweep_dir))
        _say(f"litmlp {command}: the sweep stopped; its remaining runs were not started")
        return stop.exit_code
    except StopRequested as stop:  # a stop outside any run: composing, launching
        _say(f"litmlp {command}: {stop}")
        return 128 + signal.Signals[stop.signal_name].value
    except Exception as error:  # before or after the job: creating the run directory, a sweep's launch
        if app.debug:
            raise
        from litmlp.config.errors import describe_yaml_error
        from litmlp.runtime.run_dir import RunDirectory

        if isinstance(error, OSError) and RunDirectory.refused is not None:
            _say(_line(command, str(RunDirectory.refused)))
            return RunDirectory.refused.exit_code

        _say(_line(command, describe_unexpected(error)))
        return 2 if describe_yaml_error(error) else 1
    if job is not None and job.in_sweep:
        # Rank 0 records this job's failure in the sweep and goes on with the next job; Lightning's
        # watchdog in rank 0 would SIGKILL it, sweep and all, on seeing a rank it started exit non-zero.
        return 0
    return app.exit_code


_GC_THRESHOLDS = gc.get_threshold()


def _collect_as_usual() -> None:
    """After the first task import, once per process: what is alive then (the libraries) is frozen, not a
    later job's garbage (a sweep runs its jobs in one process)."""
    if gc.get_threshold() != _GC_THRESHOLDS:
        gc.freeze()
        gc.set_threshold(*_GC_THRESHOLDS)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from litmlp import __version__

        print(f"litmlp {__version__}")
        return 0
    # Importing torch, Lightning and Hydra allocates ~600,000 objects that live as long as the process, and
    # the collector walked them all six times on the way: ~0.6 s of a 3.5 s start here. Until the task is
    # imported it runs 100 times less often; then they are frozen (left out of every later collection) and
    # it runs as usual. A process that never imports a task (a sweep's parent) still collects.
    gc.set_threshold(100 * _GC_THRESHOLDS[0], *_GC_THRESHOLDS[1:])
    try:
        return _command(args)
    finally:
        gc.set_threshold(*_GC_THRESHOLDS)


def _command(args: list[str]) -> int:
    from litmlp.runtime.ranks import relaunched_job

    job = relaunched_job()
    if job is not None:  # Lightning's launcher re-ran the command line; the job comes from rank 0
        return _run_hydra_app(job.command, [], job)
    command, overrides = args[0], args[1:]
    if command == "summarize":
        return _summarize(overrides)
    if command == "inspect":
        return _inspect(overrides)
    if command not in COMMANDS:
        choices = ", ".join([*COMMANDS, "summarize", "inspect"])
        _say(f"litmlp: error: unknown command '{command}' (choose from: {choices})")
        return 2
    return _run_hydra_app(command, overrides)
