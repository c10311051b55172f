"""A DDP run stopped (a signal to one rank, or SIGKILL) and resumed ends bitwise equal to an unstopped one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.conftest import run_cli
from tests.distributed.checks import DDP, assert_ranks_agree
from tests.tasks.test_resume import TRUST, interrupt, weights

pytestmark = pytest.mark.slow

# 3 epochs of 4 steps per rank, a resume checkpoint every 3 steps.
RUN = (
    *DDP,
    "trainer.max_epochs=3",
    "callbacks.early_stopping=null",
    "callbacks.resume_checkpoint.every_n_train_steps=3",
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("ddp_reference")
    result = run_cli("train", *RUN, "hydra.run.dir=run", cwd=cwd, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "run"


def assert_same_run(run: Path, reference: Path) -> None:
    expected = weights(reference)
    for name, tensor in weights(run).items():
        assert torch.equal(tensor, expected[name]), name
    final, reference_final = (json.loads((r / "metrics.json").read_text()) for r in (run, reference))
    assert final["test"] == reference_final["test"]
    assert final["global_step"] == reference_final["global_step"]
    assert_ranks_agree(run)


def test_sigterm_to_rank_1_stops_both_ranks_and_the_resumed_run_matches(tmp_path, reference):
    stopped = run_cli(
        "train",
        *RUN,
        *interrupt(5, "batch_end", "SIGTERM"),
        "+callbacks.interrupt.rank=1",
        "hydra.run.dir=run",
        cwd=tmp_path,
        timeout=240,
    )
    # Rank 0 never got the signal: it learnt of it from rank 1 and stopped at the same step.
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    assert "stopped by SIGTERM after saving a checkpoint" in stopped.stderr
    run = tmp_path / "run"
    saved_step = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert 5 < saved_step < 3 * 4
    resumed = run_cli("train", f"resume={run}", TRUST, cwd=tmp_path, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(run, reference)


def test_sigkill_of_rank_0_then_resume_matches(tmp_path, reference):
    killed = run_cli(
        "train", *RUN, *interrupt(7, "batch_end", "SIGKILL"), "hydra.run.dir=run", cwd=tmp_path, timeout=240
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    run = tmp_path / "run"
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    resumed = run_cli("train", f"resume={run}", TRUST, cwd=tmp_path, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(run, reference)
