"""What a resume leaves of the stopped run's checkpoint files (end to end: tests/tasks/test_resume.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from litmlp.files import replacing
from litmlp.runtime.resume import SAVED_AT_KEY
from litmlp.runtime.resume_run import stale_checkpoints

SAVED_AT = 1_000_000.0


def file_written(path: Path, at: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"checkpoint")
    os.utime(path, (at, at))
    return path


def temporary_name(path: Path, pid: int) -> str:
    """The name `replacing` writes `path` under, in process `pid`."""
    with pytest.raises(KeyboardInterrupt) as stopped, replacing(path) as partial:
        raise KeyboardInterrupt(partial.name)
    return str(stopped.value).replace(f".{os.getpid()}.", f".{pid}.")


def model_checkpoint_state(dirpath: Path, *best: Path) -> dict:
    return {
        "dirpath": str(dirpath),
        "best_model_path": str(best[0]) if best else "",
        "best_k_models": {str(path): 0.5 for path in best},
        "kth_best_model_path": str(best[-1]) if best else "",
        "last_model_path": "",
    }


def test_only_unknown_checkpoints_written_after_the_resume_checkpoint_are_stale(tmp_path):
    run = tmp_path / "run"
    checkpoints = run / "checkpoints"
    last = file_written(checkpoints / "last.ckpt", SAVED_AT + 5)  # the one resumed from, never stale
    known_before = file_written(checkpoints / "epoch_000.ckpt", SAVED_AT - 5)
    known_after = file_written(checkpoints / "epoch_001.ckpt", SAVED_AT + 1)  # its write ended after the save
    stale = file_written(checkpoints / "epoch_002.ckpt", SAVED_AT + 2)
    unknown_before = file_written(checkpoints / "by_hand.ckpt", SAVED_AT - 1)
    not_a_checkpoint = file_written(checkpoints / "notes.txt", SAVED_AT + 3)
    # What a process killed while writing epoch_003.ckpt leaves: the temporary file, under its process id.
    left_behind = file_written(checkpoints / temporary_name(checkpoints / "epoch_003.ckpt", pid=12345), 0)
    elsewhere = file_written(tmp_path / "shared" / "epoch_009.ckpt", SAVED_AT + 2)  # another run's
    checkpoint = {
        SAVED_AT_KEY: SAVED_AT,
        "callbacks": {
            "ModelCheckpoint{'monitor': 'val/acc'}": model_checkpoint_state(
                checkpoints, known_before, known_after
            ),
            "MyCheckpoint": model_checkpoint_state(elsewhere.parent),
            "ResumeCheckpoint": {"rng": {}},
        },
    }

    assert stale_checkpoints(checkpoint, run) == sorted([stale, left_behind])
    for kept in (last, known_before, known_after, unknown_before, not_a_checkpoint, elsewhere):
        assert kept.exists()
