"""A sweep whose runs use DDP (`-m ... trainer=ddp_cpu`): Lightning re-launches rank 1 for each run."""

from __future__ import annotations

import pytest

from tests.conftest import run_cli
from tests.distributed.checks import DDP, assert_ranks_agree
from tests.sweeps.test_summary import read_summary

pytestmark = pytest.mark.slow


def test_ddp_sweep_runs_each_job_once_in_one_tree_and_outlives_a_failed_job(tmp_path):
    # lr 10000 diverges (a one-line error on both ranks); the sweep records it and runs the next job.
    result = run_cli("train", "-m", *DDP, "model.optimizer.lr=10000.0,0.001", cwd=tmp_path, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 of 2 runs failed" in result.stderr
    assert not (tmp_path / "logs" / "train" / "runs").exists()  # no rank ran a job outside the sweep
    (sweep_dir,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    assert sorted(path.name for path in sweep_dir.iterdir() if path.is_dir()) == ["0", "1"]
    rows = {row["model.optimizer.lr"]: row for row in read_summary(sweep_dir)}
    assert (rows["10000.0"]["status"], rows["0.001"]["status"]) == ("failed", "ok")
    assert "training diverged" in rows["10000.0"]["error"]
    for job in ("0", "1"):
        for log in ("train.log", "train_rank1.log"):
            assert (sweep_dir / job / log).read_text().count(
                "Training Classifier(MLP)"
            ) == 1  # once, on each rank
    assert_ranks_agree(sweep_dir / "1")
