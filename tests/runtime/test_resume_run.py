"""What a resume leaves of the stopped run's checkpoint files (end to end: tests/tasks/test_resume.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from litmlp.files import replacing
from litmlp.runtime.resume_run import checkpoint_dirs, stale_checkpoints

RESUMED_STEP = 9


def saved_at_step(path: Path, step: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "state_dict": {"w": torch.ones(2)}}, path)
    return path


def temporary_name(path: Path, pid: int) -> str:
    """The name `replacing` writes `path` under, in process `pid`."""
    with pytest.raises(KeyboardInterrupt) as stopped, replacing(path) as partial:
        raise KeyboardInterrupt(partial.name)
    return str(stopped.value).replace(f".{os.getpid()}.", f".{pid}.")


def model_checkpoint_state(dirpath: Path) -> dict:
    return {"dirpath": str(dirpath), "best_model_path": "", "best_k_models": {}, "last_model_path": ""}


def test_checkpoints_of_the_steps_the_resumed_run_repeats_are_stale(tmp_path):
    run = tmp_path / "run"
    checkpoints, best = run / "checkpoints", run / "best"
    last = saved_at_step(checkpoints / "last.ckpt", RESUMED_STEP)  # the one resumed from
    before = saved_at_step(checkpoints / "epoch_000.ckpt", 5)
    same_step = saved_at_step(best / "step_009.ckpt", RESUMED_STEP)  # saved just after last.ckpt
    after = saved_at_step(checkpoints / "epoch_001.ckpt", 11)
    after_elsewhere = saved_at_step(best / "step_012.ckpt", 12)
    unreadable = checkpoints / "notes.ckpt"
    unreadable.write_text("not a checkpoint")
    sharded = checkpoints / "sharded.ckpt"
    sharded.mkdir()
    link = checkpoints / "link.ckpt"
    link.symlink_to(after)
    # What a process killed while writing epoch_002.ckpt leaves: the temporary file, under its process id.
    left_behind = saved_at_step(checkpoints / temporary_name(checkpoints / "epoch_002.ckpt", pid=12345), 0)
    shared = saved_at_step(tmp_path / "shared" / "other_run.ckpt", 50)  # another run's folder
    checkpoint = {
        "global_step": RESUMED_STEP,
        "callbacks": {
            "ModelCheckpoint{'monitor': 'val/acc'}": model_checkpoint_state(best),
            "MyCheckpoint": model_checkpoint_state(shared.parent),
            "ResumeCheckpoint": {"rng": {}},
        },
    }

    folders = checkpoint_dirs(checkpoint, run)
    assert folders == sorted([best.resolve(), checkpoints.resolve()])
    stale = stale_checkpoints(folders, RESUMED_STEP)
    assert sorted(stale) == sorted(p.resolve() for p in (left_behind, after, after_elsewhere))
    for kept in (last, before, same_step, unreadable, sharded, link, shared):
        assert kept.exists()
