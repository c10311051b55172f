"""What every distributed run must show, whichever launcher started its ranks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_dirs

# 1200 rows: 840 for training, split over 2 ranks with batch 128 -> 4 steps per epoch.
DDP = (
    "trainer=ddp_cpu",
    "data.num_samples=1200",
    "data.batch_size=128",
    "trainer.max_epochs=2",
    "callbacks.rich_progress_bar=null",
)
STEPS_PER_EPOCH = 4


def assert_ranks_agree(run: Path) -> dict:
    """Rank 1 synchronised the same val and test metrics that rank 0 wrote to metrics.json."""
    metrics = json.loads((run / "metrics.json").read_text())
    match = re.search(r"Results on rank 1: (\{.*\})", (run / "train_rank1.log").read_text())
    assert match, "rank 1 logged no results"
    assert json.loads(match.group(1)) == {"val": metrics["val"], "test": metrics["test"]}
    return metrics


def assert_one_process_reproduces_test_metrics(metrics: dict, cwd: Path) -> None:
    """The test metrics the ranks synchronised equal a single-process evaluation of the same checkpoint."""
    evaluated = run_cli("eval", f"ckpt_path={metrics['best_checkpoint']}", "trainer=cpu", cwd=cwd)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (eval_run,) = run_dirs(cwd, "eval")
    assert json.loads((eval_run / "metrics.json").read_text())["test"] == pytest.approx(
        metrics["test"], abs=1e-6
    )


def assert_one_distributed_run(cwd: Path, name_prefix: str = "") -> Path:
    """One run directory, written by rank 0 (config, log, events, checkpoints) plus rank 1's own log."""
    (run,) = run_dirs(cwd)
    assert run.name.startswith(name_prefix)
    assert (run / ".hydra" / "config.yaml").is_file()
    assert "Results (best val/acc" in (run / "train.log").read_text()
    assert "Results (best val/acc" not in (run / "train_rank1.log").read_text()
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) >= 1
    return run
