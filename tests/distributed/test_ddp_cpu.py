"""Two real processes over gloo: started by Lightning from the litmlp command, by torchrun, and spawned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli, run_dirs
from tests.distributed.checks import (
    DDP,
    STEPS_PER_EPOCH,
    assert_one_distributed_run,
    assert_one_process_reproduces_test_metrics,
    assert_ranks_agree,
)
from tests.helpers.slurm import free_port

pytestmark = pytest.mark.slow


def test_lightning_launched_ranks_train_into_one_run_dir_with_metrics_one_process_reproduces(tmp_path):
    # OMP_NUM_THREADS as on a user's machine: torch would give each rank every core.
    every_core = {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    result = run_cli("train", *DDP, cwd=tmp_path, timeout=240, env=every_core)
    assert result.returncode == 0, result.stderr[-3000:]
    run = assert_one_distributed_run(tmp_path)
    metrics = assert_ranks_agree(run)
    assert metrics["global_step"] == 2 * STEPS_PER_EPOCH
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)
    # The two ranks share the machine's cores instead of each taking all of them.
    share = max(1, (os.cpu_count() or 1) // 2)
    for log in ("train.log", "train_rank1.log"):
        assert f"torch threads: {share}" in (run / log).read_text(), log


def torchrun(*args: str, cwd: Path, overrides: tuple[str, ...] = DDP) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("torchrun")), *args, "-m", "litmlp", "train", *overrides],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)},
    )


def assert_all_exit_0(launchers: list[subprocess.Popen[str]]) -> None:
    errors = [launcher.communicate(timeout=240)[1] for launcher in launchers]
    failed = [error[-3000:] for launcher, error in zip(launchers, errors, strict=True) if launcher.returncode]
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize(
    ("rendezvous", "name_prefix"),
    [
        (("--standalone",), "torchrun-"),  # a c10d rendezvous with its own run id
        (("--rdzv-id=exp7", "--rdzv-backend=c10d", "--rdzv-endpoint=127.0.0.1:{port}"), "torchrun-exp7"),
        # torchrun's default: a static rendezvous, run id "none"; the ranks agree on a time-stamped name
        (("--master-port={port}",), "20"),
    ],
    ids=["standalone", "rdzv-id", "static"],
)
def test_torchrun_ranks_agree_on_one_run_dir_and_synchronise_metrics(tmp_path, rendezvous, name_prefix):
    port = free_port()
    args = [arg.format(port=port) for arg in rendezvous]
    assert_all_exit_0([torchrun("--nproc_per_node=2", *args, cwd=tmp_path)])
    run = assert_one_distributed_run(tmp_path, name_prefix=name_prefix)
    metrics = assert_ranks_agree(run)
    assert metrics["global_step"] == 2 * STEPS_PER_EPOCH
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


def test_two_torchrun_nodes_train_one_run(tmp_path):
    """The multi-node form: one torchrun per node (here two on this machine), static rendezvous at node 0."""
    port = free_port()
    nodes = [
        torchrun(
            "--nnodes=2",
            "--nproc_per_node=1",
            f"--node_rank={node}",
            "--master_addr=127.0.0.1",
            f"--master_port={port}",
            cwd=tmp_path,
            overrides=(*DDP, "trainer.num_nodes=2", "trainer.devices=1"),
        )
        for node in (0, 1)
    ]
    assert_all_exit_0(nodes)
    run = assert_one_distributed_run(tmp_path)
    metrics = assert_ranks_agree(run)  # rank 1 ran on "node" 1
    assert metrics["global_step"] == 2 * STEPS_PER_EPOCH
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


def test_ddp_spawn_reports_the_same_run_as_the_other_launchers(tmp_path):
    # The spawned workers fit; the main process, which writes metrics.json, gets back weights and metrics.
    result = run_cli("train", *DDP, "trainer.strategy=ddp_spawn", cwd=tmp_path, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = run_dirs(tmp_path)
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["global_step"], metrics["epochs_trained"]) == (2 * STEPS_PER_EPOCH, 2)
    assert metrics["best_score"] == pytest.approx(metrics["val"]["val/acc_best"])
    assert metrics["best_checkpoint"].endswith(f"epoch_{metrics['best_epoch']:03d}.ckpt")
    assert_one_process_reproduces_test_metrics(metrics, tmp_path)


def test_torchrun_ranks_with_a_one_device_trainer_stop_before_training(tmp_path):
    launcher = torchrun(
        "--standalone", "--nproc_per_node=2", cwd=tmp_path, overrides=("trainer=cpu", "data.num_samples=600")
    )
    _, stderr = launcher.communicate(timeout=240)
    assert launcher.returncode == 1
    assert "litmlp train: error: torchrun started 2 ranks, but the trainer runs 1" in stderr
    (run,) = run_dirs(tmp_path)
    assert not (run / "checkpoints").exists()
    assert not (run / "metrics.json").exists()
