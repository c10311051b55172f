"""Every option of every config group composes, validates against its schema, and builds."""

from __future__ import annotations

import pytest

from litmlp.config import config_dir
from litmlp.tasks.build import (
    build_callbacks,
    build_datamodule,
    build_loggers,
    build_model,
    build_trainer,
    data_sizes,
)
from tests.helpers.tables import write_flowers

CONF = config_dir()


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (CONF / group).glob("*.yaml"))


def test_config_dir_is_the_repository_conf():
    assert (CONF / "train.yaml").is_file()
    assert (CONF / "eval.yaml").is_file()


@pytest.mark.parametrize("option", options("data"))
def test_data_option_builds(make_config, option, tmp_path):
    # Options that read a file get one.
    extra = (
        [f"data.path={write_flowers(tmp_path / 'f.csv')}", "data.target=species"] if option == "file" else []
    )
    datamodule = build_datamodule(make_config(f"data={option}", *extra).data)
    assert datamodule.num_features > 0


@pytest.mark.parametrize("option", options("model"))
def test_model_option_builds_with_sizes_from_the_data(make_config, option):
    cfg = make_config(f"model={option}")
    module = build_model(cfg.model, build_datamodule(cfg.data))
    assert module.net.layers[0].in_features == 50
    assert module.net.layers[-1].out_features == 3


@pytest.mark.parametrize("group", ["model/optimizer", "model/scheduler", "model/net"])
def test_model_suboptions_build_an_optimizer(make_config, group):
    for option in options(group):
        cfg = make_config(f"{group}={option}")
        module = build_model(cfg.model, build_datamodule(cfg.data))
        module.configure_optimizers()


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_option_composes(make_config, option):
    cfg = make_config(f"trainer={option}")
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    with data_sizes(build_datamodule(cfg.data)):  # the default data: 55 batches, so 20 epochs
        assert cfg.trainer.max_epochs == 20


@pytest.mark.parametrize("option", ["default", "cpu"])
def test_trainer_option_builds_here(make_config, option):
    cfg = make_config(f"trainer={option}")
    trainer = build_trainer(cfg.trainer, [], [], build_datamodule(cfg.data))
    assert trainer.max_epochs == 20


@pytest.mark.parametrize("option", options("callbacks"))
def test_callbacks_option_builds(make_config, option):
    callbacks = build_callbacks(make_config(f"callbacks={option}").callbacks)
    assert len(callbacks) == (8 if option == "default" else 0 if option == "none" else 1)


@pytest.mark.parametrize("option", options("logger"))
def test_logger_option_builds(make_config, option):
    loggers = build_loggers(make_config(f"logger={option}").logger)
    assert len(loggers) == (0 if option == "none" else 1)


@pytest.mark.parametrize("option", options("experiment"))
def test_experiment_option_composes_and_builds(make_config, option):
    cfg = make_config(f"experiment={option}")
    build_model(cfg.model, build_datamodule(cfg.data))
    build_callbacks(cfg.callbacks)


@pytest.mark.parametrize("option", options("debug"))
def test_debug_option_composes_and_builds_a_trainer(make_config, option):
    cfg = make_config(f"debug={option}")
    assert cfg.task_name == "debug"
    build_trainer(cfg.trainer, build_callbacks(cfg.callbacks), [], build_datamodule(cfg.data))


def test_eval_config_composes(make_config):
    cfg = make_config("ckpt_path=some.ckpt", config_name="eval")
    assert cfg.ckpt_path == "some.ckpt"


def test_typed_schema_converts_values(make_config):
    cfg = make_config("data.batch_size=64", "model.optimizer.lr=1e-2")
    assert cfg.data.batch_size == 64
    assert cfg.model.optimizer.lr == pytest.approx(0.01)


def test_an_int_or_float_parameter_keeps_what_was_written(make_config):
    """Lightning reads `limit_train_batches=1` as one batch and `1.0` as every batch."""
    cfg = make_config("trainer.limit_train_batches=1", "trainer.val_check_interval=0.25")
    assert type(cfg.trainer.limit_train_batches) is int
    assert cfg.trainer.limit_train_batches == 1
    assert type(cfg.trainer.val_check_interval) is float
    assert cfg.trainer.val_check_interval == 0.25
    assert make_config("trainer.limit_train_batches=1.0").trainer.limit_train_batches == 1.0
    assert type(make_config("trainer.limit_train_batches=1.0").trainer.limit_train_batches) is float


def test_data_shuffle_seed_follows_the_run_seed(make_config):
    assert make_config("seed=42").data.shuffle_seed == 42
