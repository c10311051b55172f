"""The trainer must run as many ranks as torchrun or srun started, or the run stops before training
(the `DistributedJob` callback the runtime adds to every job checks it when the trainer sets up)."""

from __future__ import annotations

import pytest

from litmlp.errors import LitmlpError
from litmlp.runtime.distributed import DistributedJob
from litmlp.tasks.build import build_trainer
from tests.helpers import slurm

# What torchrun sets in rank 0 of `torchrun --nproc_per_node=2`.
TORCHRUN_RANK_0 = {
    "TORCHELASTIC_RUN_ID": "abc",
    "WORLD_SIZE": "2",
    "RANK": "0",
    "LOCAL_RANK": "0",
    "GROUP_RANK": "0",
    "LOCAL_WORLD_SIZE": "2",
    "MASTER_ADDR": "127.0.0.1",
    "MASTER_PORT": "29500",
}


def set_up(trainer_cfg):
    trainer = build_trainer(trainer_cfg, callbacks=[], loggers=[])
    DistributedJob().setup(trainer, None, "fit")
    return trainer


@pytest.fixture
def under_torchrun(monkeypatch):
    for name, value in TORCHRUN_RANK_0.items():
        monkeypatch.setenv(name, value)


def test_a_one_device_trainer_under_two_torchrun_ranks_is_refused(make_config, under_torchrun):
    with pytest.raises(
        LitmlpError,
        match=r"torchrun started 2 ranks, but the trainer runs 1 \(trainer.devices=1 x trainer.num_nodes=1\)",
    ):
        set_up(make_config("trainer=cpu").trainer)


def test_a_ddp_trainer_counting_the_ranks_torchrun_started_builds(make_config, under_torchrun):
    trainer = set_up(make_config("trainer=ddp_cpu").trainer)
    assert (trainer.num_devices, trainer.num_nodes, trainer.world_size) == (2, 1, 2)
    with pytest.raises(LitmlpError, match="torchrun started 2 ranks, but the trainer runs 4"):
        set_up(make_config("trainer=ddp_cpu", "trainer.num_nodes=2").trainer)


def test_a_one_device_trainer_in_a_two_task_srun_step_is_refused(make_config, monkeypatch):
    for name, value in slurm.task_environment(rank=0, nodes=1, ntasks_per_node=2, port=29500).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(LitmlpError, match="SLURM started 2 ranks, but the trainer runs 1"):
        set_up(make_config("trainer=cpu").trainer)
