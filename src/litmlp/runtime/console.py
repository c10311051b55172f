"""A console that may go away: `litmlp train | head -1` closes the run's standard output after one line.

Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError wherever it happens (a log line,
the progress bar, the interpreter's last flush) and each prints a traceback. `guard_console()` wraps
`sys.stdout` and `sys.stderr`: the first write that finds its reader gone points that file descriptor at
/dev/null (nothing written later fails, buffered bytes included) and raises SIGPIPE in this process, which
the command's stop handlers treat like SIGTERM: training saves a checkpoint at the next step and says how to
resume, other commands end writing nothing. A SIGPIPE that no closed console raised (a socket's peer gone)
is ignored, as Python does by default.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, TextIO

_closed = threading.Event()
_ignored_at_start: set[int] = set()


_command_pid = 0  # the process whose command installed the stop handlers


def note_ignored_signals(signals: tuple[int, ...]) -> None:
    """Remember which of `signals` the process was started with ignored (SIGINT of a script's background
    job, SIGTERM under some supervisors): they stay ignored. SIGPIPE, which Python itself ignores, is not.
    Called by the command before it installs its stop handlers; the process is the one they stop."""
    global _command_pid
    _command_pid = os.getpid()
    _ignored_at_start.update(
        signum
        for signum in signals
        if signum != getattr(signal, "SIGPIPE", None) and signal.getsignal(signum) is signal.SIG_IGN
    )


def ignored_at_start(signum: int) -> bool:
    return signum in _ignored_at_start


def is_a_stop(signum: int) -> bool:
    """Whether a stop handler should act on `signum`: not in a forked DataLoader worker (its parent stops;
    a Ctrl-C there raises KeyboardInterrupt, which torch's worker loop ends on quietly), and SIGPIPE only
    when a console stream's reader has gone (a socket's peer going away is not a stop)."""
    if _command_pid and os.getpid() != _command_pid:  # unset outside the CLI (a notebook's train)
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        return False
    return signum != getattr(signal, "SIGPIPE", None) or output_closed()


def output_closed() -> bool:
    """True once a console stream's reader has gone."""
    return _closed.is_set()


class _GuardedStream:
    """A text stream whose writes survive a closed reader (see the module docstring)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._reader_gone()
            return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._reader_gone()

    def _reader_gone(self) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)
        if not _closed.is_set():
            _closed.set()
            signal.raise_signal(signal.SIGPIPE)  # handled in the main thread, whichever thread wrote

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_console() -> None:
    """Wrap sys.stdout and sys.stderr once (before logging and progress bars take hold of them)."""
    if not hasattr(signal, "SIGPIPE"):  # Windows has no SIGPIPE; a closed pipe is an OSError there
        return
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _GuardedStream) and _has_fd(stream):
            setattr(sys, name, _GuardedStream(stream))


def _has_fd(stream: TextIO) -> bool:
    try:
        stream.fileno()
    except (OSError, ValueError, AttributeError):  # pytest's capture, a StringIO
        return False
    return True
