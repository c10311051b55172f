"""One process trains a run directory at a time: an advisory lock held for as long as the process lives.

The lock (`flock` on `<run dir>/.litmlp.lock`) belongs to the process: the kernel drops it when the
process ends, however it ends (SIGKILL included), so a stale lock never blocks a resume. A second
`litmlp train resume=RUN` meets it before anything is written and stops with one line.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from litmlp.errors import LitmlpError
from litmlp.layout import LOCK_FILE


def _holder(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""


def refuse_if_running(run_dir: Path) -> None:
    """Stop when another process holds the run's lock; touch nothing either way."""
    path = run_dir / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # no lock there (or a path the system refuses: making the directory will say so)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise LitmlpError(
            f"{run_dir} is being trained by another process{_holder(path)}; wait for it to end, or stop it "
            "(it saves a resumable checkpoint) and resume then"
        ) from None
    finally:
        os.close(fd)


@contextmanager
def holding_run(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock while the block trains it."""
    refuse_if_running(run_dir)
    path = run_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process took it between the check and here
            raise LitmlpError(f"{run_dir} is being trained by another process{_holder(path)}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def refuse_links(run_dir: Path) -> None:
    """litmlp never writes through a symbolic link: a run whose files are links is not resumed."""
    for place in (run_dir, run_dir / "checkpoints"):
        if not place.is_dir():
            continue
        for entry in sorted(place.iterdir()):
            if entry.is_symlink():
                raise LitmlpError(
                    f"{entry} is a symbolic link; litmlp does not write through links in a run directory "
                    "(replace it with a plain file to resume)"
                )
