from __future__ import annotations

import torch

from litmlp.data.loader import EpochBatchSampler, InMemoryLoader


def epoch_order(sampler: EpochBatchSampler, epoch: int) -> torch.Tensor:
    sampler.set_epoch(epoch)
    return torch.cat(sampler.batches())


def test_epoch_order_is_a_pure_function_of_seed_and_epoch():
    a = EpochBatchSampler(100, 16, shuffle=True, seed=3)
    b = EpochBatchSampler(100, 16, shuffle=True, seed=3)
    first = epoch_order(a, 5)
    torch.manual_seed(999)  # the global RNG must not matter
    torch.rand(10)
    epoch_order(b, 1)
    assert torch.equal(epoch_order(b, 5), first)
    assert not torch.equal(epoch_order(a, 6), first)
    assert not torch.equal(epoch_order(EpochBatchSampler(100, 16, shuffle=True, seed=4), 5), first)


def test_every_sample_once_per_epoch_and_batch_sizes():
    sampler = EpochBatchSampler(100, 16, shuffle=True, seed=0)
    batches = sampler.batches()
    assert [len(b) for b in batches] == [16] * 6 + [4]
    assert len(sampler) == 7
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(100))


def test_drop_last_drops_the_short_batch():
    sampler = EpochBatchSampler(100, 16, shuffle=False, drop_last=True)
    assert len(sampler) == 6
    assert [len(b) for b in sampler.batches()] == [16] * 6


def test_evaluation_shards_cover_every_sample_exactly_once():
    shards = [
        torch.cat(EpochBatchSampler(101, 8, shuffle=False, rank=r, world_size=3, pad=False).batches())
        for r in range(3)
    ]
    assert torch.equal(torch.cat(shards).sort().values, torch.arange(101))


def test_training_shards_are_disjoint_except_padding_and_equal_length():
    samplers = [EpochBatchSampler(101, 8, shuffle=True, seed=1, rank=r, world_size=2) for r in range(2)]
    shards = [torch.cat(s.batches()) for s in samplers]
    assert len(shards[0]) == len(shards[1]) == 51
    assert len(samplers[0]) == len(samplers[1])
    assert set(torch.cat(shards).tolist()) == set(range(101))


def test_loader_yields_gathered_rows():
    features = torch.arange(20.0).reshape(10, 2)
    targets = torch.arange(10)
    loader = InMemoryLoader(features, targets, EpochBatchSampler(10, 4, shuffle=True, seed=0))
    for x, y in loader:
        assert torch.equal(x[:, 0], 2.0 * y)


def test_restored_loader_continues_with_the_next_batch_of_the_same_epoch():
    features, targets = torch.randn(50, 3), torch.arange(50)
    loader = InMemoryLoader(features, targets, EpochBatchSampler(50, 8, shuffle=True, seed=7))
    loader.sampler.set_epoch(2)
    full = [y for _, y in loader]
    loader.sampler.set_epoch(2)
    iterator = iter(loader)
    for _ in range(3):
        next(iterator)
    state = loader.state_dict()
    assert state == {"epoch": 2, "batches_done": 3}

    restored = InMemoryLoader(features, targets, EpochBatchSampler(50, 8, shuffle=True, seed=7))
    restored.load_state_dict(state)
    rest = [y for _, y in restored]
    assert len(rest) == len(full) - 3
    for got, expected in zip(rest, full[3:], strict=True):
        assert torch.equal(got, expected)
    # The next epoch starts from its first batch again.
    assert len([y for _, y in restored]) == len(full)


def test_worker_processes_give_the_same_batches():
    features, targets = torch.randn(40, 3), torch.arange(40)
    plain = InMemoryLoader(features, targets, EpochBatchSampler(40, 8, shuffle=True, seed=1))
    workers = InMemoryLoader(
        features,
        targets,
        EpochBatchSampler(40, 8, shuffle=True, seed=1),
        num_workers=1,
        persistent_workers=True,
    )
    for epoch in range(2):
        plain.sampler.set_epoch(epoch)
        workers.sampler.set_epoch(epoch)
        for (xa, ya), (xb, yb) in zip(plain, workers, strict=True):
            assert torch.equal(xa, xb)
            assert torch.equal(ya, yb)
