from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from litmlp.config.errors import describe_config_error
from litmlp.data import SyntheticDataModule, make_spirals
from litmlp.data.tabular import auto_batch_size
from litmlp.errors import UsageError
from litmlp.tasks.build import epochs_for_steps


@pytest.fixture
def datamodule(make_config: Callable[..., DictConfig]) -> SyntheticDataModule:
    dm = instantiate(make_config().data)
    dm.setup("fit")
    return dm


def test_default_data_is_3_classes_of_50_features(datamodule):
    assert (datamodule.num_features, datamodule.num_classes) == (50, 3)


def test_split_sizes_follow_the_fractions(datamodule):
    sizes = {name: len(datamodule.split(name)[1]) for name in ("train", "val", "test")}
    assert sizes == {"train": 7000, "val": 1500, "test": 1500}


def test_splits_are_stratified(datamodule):
    for name in ("train", "val", "test"):
        counts = torch.bincount(datamodule.split(name)[1], minlength=3)
        assert counts.max() - counts.min() <= 1, (name, counts)


def test_splits_are_disjoint_and_cover_all_rows():
    from litmlp.data import stratified_split

    _, labels = make_spirals(num_samples=999, seed=1)
    train, val, test = stratified_split(labels, 0.2, 0.1, seed=5)
    assert torch.equal(torch.cat([train, val, test]).sort().values, torch.arange(999))


def test_data_and_split_are_deterministic(make_config):
    first = instantiate(make_config().data)
    second = instantiate(make_config("seed=123").data)  # the training seed does not change the data
    for name in ("train", "val", "test"):
        for a, b in zip(first.split(name), second.split(name), strict=True):
            assert torch.equal(a, b)


def test_standardisation_uses_train_statistics_only(make_config):
    dm = instantiate(make_config().data)
    raw_features, labels = make_spirals()
    from litmlp.data import stratified_split

    train_rows, val_rows, _ = stratified_split(labels, 0.15, 0.15, seed=0)
    assert torch.allclose(dm.split("train")[0].mean(dim=0), torch.zeros(50), atol=1e-5)
    assert torch.allclose(dm.feature_mean, raw_features[train_rows].mean(dim=0))
    assert not torch.allclose(dm.feature_mean, raw_features.mean(dim=0))
    expected_val = (raw_features[val_rows] - dm.feature_mean) / dm.feature_std
    assert torch.allclose(dm.split("val")[0], expected_val)


def test_saved_statistics_are_reused_on_other_data(make_config):
    trained = instantiate(make_config().data)
    trained.setup()
    other = instantiate(make_config("data.noise=2.0").data)
    other.load_state_dict(trained.state_dict())
    other.setup()
    assert torch.equal(other.feature_mean, trained.feature_mean)


def test_mlp_problem_is_not_linearly_separable_by_construction():
    features, labels = make_spirals(num_samples=3000)
    # Least-squares linear classifier on one-hot targets: well short of what the MLP reaches.
    design = torch.cat([features, torch.ones(len(features), 1)], dim=1)
    weights = torch.linalg.lstsq(design, torch.nn.functional.one_hot(labels).float()).solution
    accuracy = ((design @ weights).argmax(dim=1) == labels).float().mean()
    assert accuracy < 0.7


@pytest.mark.parametrize(
    ("val", "test", "line"),
    [
        (0.0, 0.1, "data.val_fraction=0.0: must be above 0 and below 1"),
        (0.6, 0.5, "data.val_fraction=0.6 and data.test_fraction=0.5 must be fractions that leave rows"),
        (1.2, 0.0, "data.val_fraction=1.2: must be above 0 and below 1"),
        (0.1, -0.1, "data.test_fraction=-0.1: must be at least 0 and below 1"),
    ],
)
def test_bad_fractions_are_refused_with_the_key_names(make_config, val, test, line):
    cfg = make_config(f"data.val_fraction={val}", f"data.test_fraction={test}")
    with pytest.raises(InstantiationException) as raised:
        instantiate(cfg.data)
    assert isinstance(raised.value.__cause__, UsageError)  # exit code 2
    assert describe_config_error(raised.value).startswith(line)


@pytest.mark.parametrize(
    ("rows", "batch"), [(10, 16), (105, 16), (300, 32), (600, 64), (1257, 128), (7000, 128), (10**7, 128)]
)
def test_default_batch_size_gives_a_small_table_several_steps_per_epoch(rows, batch):
    assert auto_batch_size(rows) == batch


def test_training_budget_is_20_epochs_or_1000_steps_whichever_is_longer():
    small = SyntheticDataModule(num_samples=150)  # 106 training rows: batch 16, 7 batches per epoch
    small.setup("fit")
    assert (small.batch_size, len(small.train_dataloader())) == (16, 7)
    assert epochs_for_steps(small, 1000, 20) == 143
    default = SyntheticDataModule()  # 7,000 training rows: batch 128, 55 batches, 20 epochs are 1,100 steps
    default.setup("fit")
    assert (default.batch_size, epochs_for_steps(default, 1000, 20)) == (128, 20)
    assert SyntheticDataModule(batch_size=7000).batch_size == 7000  # a number given is kept
    assert epochs_for_steps(None, 1000, 20) == 20  # nothing fitted (eval, predict)


def test_evaluation_batches_are_at_least_as_large_as_training_ones():
    def val_batches(**loading: int) -> list[int]:
        data = SyntheticDataModule(num_samples=20_000, **loading)  # 3,000 validation rows
        data.setup("fit")
        return [len(y) for _, y in data.val_dataloader()]

    assert val_batches(batch_size=64) == [1024, 1024, 952]
    assert val_batches(batch_size=2048) == [2048, 952]
    assert val_batches(batch_size=2048, eval_batch_size=1000) == [1000, 1000, 1000]
