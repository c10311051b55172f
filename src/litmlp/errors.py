"""The one exception type for mistakes a user can fix; the CLI prints it as a single line."""


class LitmlpError(Exception):
    """A bad config value, file or argument. The message names it and says what to do."""

    exit_code = 1


class UsageError(LitmlpError):
    """A command line that cannot work as written: a required key missing, a key that may not change."""

    exit_code = 2


class BadValueError(UsageError, ValueError):
    """A constructor argument that makes no sense (a size below 1, a negative rate). Raised while a config
    node is built, the CLI names it by its config key: `model.net.hidden=[0]: ...`."""

    def __init__(self, argument: str, value: object, expected: str) -> None:
        super().__init__(f"{argument}={value}: {expected}")
        self.argument = argument
        self.value = value
        self.expected = expected


def at_least(minimum: float, **arguments: float | None) -> None:
    """Raise `BadValueError` for the first of `arguments` below `minimum` (None: not set, allowed)."""
    for name, value in arguments.items():
        if value is not None and not value >= minimum:
            raise BadValueError(name, value, f"must be at least {minimum:g}")


class RunInterrupted(Exception):  # noqa: N818 (not an error: the run stopped on request)
    """Training stopped on a signal after saving a checkpoint it can resume from."""

    def __init__(self, signal_name: str, run_dir: str, exit_code: int) -> None:
        super().__init__(f"{signal_name} received: saved a resumable checkpoint")
        self.signal_name = signal_name
        self.run_dir = run_dir
        self.exit_code = exit_code


# What a stop signal means when the user did not send it.
SIGNAL_MEANINGS = {"SIGPIPE": "its output was closed", "SIGUSR1": "SLURM's notice before the job ends"}


def stopped_by(signal_name: str) -> str:
    """'stopped by SIGPIPE (its output was closed)'."""
    meaning = SIGNAL_MEANINGS.get(signal_name)
    return f"stopped by {signal_name}" + (f" ({meaning})" if meaning else "")


class StopRequested(BaseException):  # BaseException: no `except Exception` on the way swallows it
    """A stop signal that ends the command where it is: eval, predict and export end writing nothing; a
    training run outside its steps (setting up, testing) or on a second Ctrl-C keeps its last checkpoint."""

    def __init__(self, signal_name: str, detail: str = "") -> None:
        super().__init__(stopped_by(signal_name) + (f" {detail}" if detail else ""))
        self.signal_name = signal_name


class SweepStopped(BaseException):
    """A stop signal ended one run of a sweep: the sweep ends there instead of starting the next run."""

    def __init__(self, exit_code: int, sweep_dir: str) -> None:
        super().__init__(f"exit code {exit_code}")
        self.exit_code = exit_code
        self.sweep_dir = sweep_dir


class RunPruned(Exception):  # noqa: N818 (not an error: the search stopped an unpromising run)
    """An Optuna search stopped this run early; the search goes on."""
