"""`trainer=ddp_cpu`: two real processes over gloo, launched by Lightning from the litmlp command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_dirs


def assert_one_process_reproduces_test_metrics(metrics: dict, cwd: Path) -> None:
    """The test metrics the ranks synchronised equal a single-process evaluation of the same checkpoint."""
    evaluated = run_cli("eval", f"ckpt_path={metrics['best_checkpoint']}", "trainer=cpu", cwd=cwd)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (eval_run,) = run_dirs(cwd, "eval")
    assert json.loads((eval_run / "metrics.json").read_text())["test"] == pytest.approx(
        metrics["test"], abs=1e-6
    )


@pytest.mark.slow
def test_ddp_cpu_trains_into_one_run_dir_with_metrics_a_single_process_reproduces(tmp_path):
    result = run_cli(
        "train",
        "trainer=ddp_cpu",
        "data.num_samples=1200",
        "trainer.max_epochs=2",
        "callbacks.rich_progress_bar=null",
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 2 * 4  # 840 training rows over 2 ranks, batch 128: 4 steps per epoch
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


@pytest.mark.slow
def test_torchrun_ranks_agree_on_one_run_dir_and_synchronise_metrics(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    result = subprocess.run(
        [
            str(torchrun),
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "litmlp",
            "train",
            "trainer=ddp_cpu",
            "data.num_samples=1200",
            "trainer.max_epochs=2",
            "callbacks.rich_progress_bar=null",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path)
    assert run.name.startswith("torchrun-")
    assert (run / ".hydra" / "config.yaml").is_file()
    assert (run / "train_rank1.log").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] == 2 * 4
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)
