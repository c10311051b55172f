"""The background checkpoint write: what it writes is the state at the moment of the save."""

from __future__ import annotations

import random
from collections import OrderedDict, namedtuple
from dataclasses import dataclass

import torch

from litmlp.checkpoint import load_checkpoint
from litmlp.runtime.checkpoint_io import AsyncCheckpointIO, AtomicCheckpointIO, snapshot
from litmlp.runtime.resume import rng_states, set_rng_states

Pair = namedtuple("Pair", "first second")


@dataclass
class Held:
    tensor: torch.Tensor


def test_a_snapshot_is_not_changed_by_training_after_it():
    weight = torch.ones(3)
    state = {
        "state_dict": OrderedDict(weight=weight),
        "optimizer_states": [{"state": {0: {"exp_avg": weight}}, "param_groups": [{"lr": 0.1}]}],
        "loops": {"epoch": 3, "names": ("a", "b"), "pair": Pair(weight, 1), "held": Held(weight)},
    }
    copy = snapshot(state)
    weight.add_(1)  # the next optimizer step, in place

    assert type(copy["state_dict"]) is OrderedDict
    assert torch.equal(copy["state_dict"]["weight"], torch.ones(3))
    assert torch.equal(copy["optimizer_states"][0]["state"][0]["exp_avg"], torch.ones(3))
    assert copy["optimizer_states"][0]["param_groups"] == [{"lr": 0.1}]
    assert copy["loops"]["epoch"] == 3
    assert copy["loops"]["names"] == ("a", "b")
    # Containers it does not walk itself keep their type and are copied all the same.
    pair, held = copy["loops"]["pair"], copy["loops"]["held"]
    assert isinstance(pair, Pair)
    assert torch.equal(pair.first, torch.ones(3))
    assert isinstance(held, Held)
    assert torch.equal(held.tensor, torch.ones(3))


def test_the_background_write_holds_the_state_of_the_save_not_of_later_steps(tmp_path):
    weight = torch.zeros(1000)
    io = AsyncCheckpointIO(AtomicCheckpointIO())
    path = tmp_path / "last.ckpt"
    for step in range(5):
        io.save_checkpoint({"state_dict": {"weight": weight}, "global_step": step}, path)
        weight.add_(1)  # training goes on while the write may still be pending
    io.teardown()  # waits for the writes, as Lightning does at the end of fit
    written = load_checkpoint(path)
    assert written["global_step"] == 4
    assert torch.equal(written["state_dict"]["weight"], torch.full((1000,), 4.0))


def test_python_random_state_round_trips_and_older_checkpoints_with_a_list_still_load():
    random.seed(7)
    saved = rng_states()
    expected = [random.random() for _ in range(3)]

    assert isinstance(saved["python"]["state"], torch.Tensor)  # one tensor, not 625 ints to walk
    set_rng_states(saved)
    assert [random.random() for _ in range(3)] == expected

    older = {**saved, "python": {**saved["python"], "state": saved["python"]["state"].tolist()}}
    set_rng_states(older)
    assert [random.random() for _ in range(3)] == expected
