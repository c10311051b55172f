"""Turn the config into the run's parts: DataModule, LightningModule, callbacks, loggers, Trainer.

Each part is `hydra.utils.instantiate` of its config node, so any LightningModule, DataModule, callback
or logger plugs in through its yaml. A net gets the data's sizes in one of two ways: `${datamodule:...}`
in its yaml (`num_inputs: ${datamodule:num_features}`, read from the built DataModule), or `_partial_: true`
(it is then called with `num_inputs` and `num_outputs`). A net written out in full needs neither.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import lightning.pytorch as pl
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from litmlp.errors import LitmlpError

# Lightning's lines that tell a user of this template nothing: advertising, a model summary callback that
# is litmlp's on purpose, accelerators that are absent (one present but unused is still said).
_CHATTER = (
    "💡 Tip",
    "Trainer already configured with model summary callbacks",
    "GPU available: False",
    "TPU available: False",
    "HPU available: False",
)


class _DropChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_CHATTER)


def quiet_lightning() -> None:
    """Lightning's console output, made to fit Hydra's logging."""
    # `import lightning` attaches a console handler of its own to the "lightning" logger, which also
    # propagates to the root logger that Hydra set up: every Lightning message would print twice. Imported
    # before Hydra set up logging (composing a config reads a class signature for the first time),
    # `lightning.pytorch` and `lightning.fabric` get a stderr handler of their own and stop propagating.
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(existing, _DropChatter) for existing in rank_zero.filters):
        rank_zero.addFilter(_DropChatter())
    # Lightning 2.6 calls a torch pytree API that torch >= 2.10 deprecates; nothing for a user to act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # A small table has fewer batches per epoch than `log_every_n_steps`; Lightning counts steps across
    # epochs, so the train loss is still written every n steps: the warning asks for nothing.
    warnings.filterwarnings(
        "ignore", message=r"The number of training batches .* is smaller than the logging"
    )


def build_datamodule(data_cfg: DictConfig) -> pl.LightningDataModule:
    datamodule = instantiate(data_cfg, _convert_="all")
    if not isinstance(datamodule, pl.LightningDataModule):
        raise LitmlpError(f"data._target_ {data_cfg.get('_target_')} is not a LightningDataModule")
    return datamodule


def epochs_for_steps(data: Any, steps: int, at_least: int) -> int:
    """The epochs that give `steps` optimizer steps over `data`'s training batches, and no fewer than
    `at_least`: a table of a few hundred rows has few batches per epoch and needs more passes. Without a
    DataModule (eval, predict: nothing is fitted), or when its training loader has no length, `at_least`."""
    if data is None or not hasattr(data, "train_dataloader"):
        return at_least
    try:
        per_epoch = len(data.train_dataloader())
    except TypeError:  # an iterable dataset: its length is unknown
        return at_least
    return max(at_least, math.ceil(steps / max(per_epoch, 1)))


@contextmanager
def data_sizes(data: Any) -> Iterator[None]:
    """While the block runs, `${datamodule:NAME}` reads `data.NAME` (the model's sizes come from the data)
    and `${epochs_for_steps:STEPS,AT_LEAST}` is `epochs_for_steps(data, STEPS, AT_LEAST)`."""
    OmegaConf.register_new_resolver("datamodule", lambda name: getattr(data, name), replace=True)
    OmegaConf.register_new_resolver(
        "epochs_for_steps", lambda steps, at_least: epochs_for_steps(data, steps, at_least), replace=True
    )
    try:
        yield
    finally:
        OmegaConf.clear_resolver("datamodule")
        OmegaConf.clear_resolver("epochs_for_steps")


def resolved(cfg: DictConfig, data: Any) -> dict[str, Any]:
    """The config as plain values, sizes from the data filled in: what a checkpoint stores."""
    with data_sizes(data):
        return cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))


def with_data_choices(config: dict[str, Any], data: Any) -> dict[str, Any]:
    """`config` as the run's record: what the DataModule decided in `setup`, and where its files are.

    - `data.batch_size: null` becomes the batch size the DataModule chose (its `batch_size` attribute,
      the name Lightning's batch-size finder tunes);
    - a data key whose DataModule attribute of the same name is a `Path` (a table's `path`) is stored
      absolute, so `eval` and `resume` find the file from any directory.
    """
    data_config = config.get("data")
    if not isinstance(data_config, dict):
        return config
    recorded = dict(data_config)
    chosen = getattr(data, "batch_size", None)
    if recorded.get("batch_size", 0) is None and isinstance(chosen, int):
        recorded["batch_size"] = chosen
    for key, value in data_config.items():
        attribute = getattr(data, key, None)
        if isinstance(value, str) and isinstance(attribute, Path):
            recorded[key] = str(attribute.expanduser().absolute())
    return {**config, "data": recorded}


def build_model(model_cfg: DictConfig, data: Any) -> pl.LightningModule:
    """Any LightningModule. `data` has the sizes a net may ask for (`num_features`, `num_classes`): the
    DataModule, or what a checkpoint recorded of it."""
    spec = resolved(model_cfg, data)  # a plain container: a typed schema would refuse an nn.Module value
    net = spec.get("net")
    if isinstance(net, dict) and net.get("_partial_"):
        with _keys_under("model.net"):
            make_net = instantiate(without_call_arguments(net), _convert_="all")
        spec["net"] = make_net(num_inputs=data.num_features, num_outputs=data.num_classes)
    with _keys_under("model"):
        module = instantiate(without_call_arguments(spec), _convert_="all")
    if not isinstance(module, pl.LightningModule):
        raise LitmlpError(f"model._target_ {spec.get('_target_')} is not a LightningModule")
    return module


def without_call_arguments(node: Any) -> Any:
    """The node without the `???` arguments of its `_partial_` nodes: the call supplies those (an
    optimizer's `params`, a net's sizes)."""
    if isinstance(node, list):
        return [without_call_arguments(item) for item in node]
    if not isinstance(node, dict):
        return node
    partial = bool(node.get("_partial_"))
    return {
        key: without_call_arguments(value) for key, value in node.items() if not (partial and value == "???")
    }


@contextmanager
def _keys_under(prefix: str) -> Iterator[None]:
    """Hydra names the failing key relative to the node it built; name it from the config's root."""
    try:
        yield
    except InstantiationException as error:
        message = str(error)
        if "full_key: " in message:
            message = message.replace("full_key: ", f"full_key: {prefix}.", 1)
        else:
            message += f"\nfull_key: {prefix}"
        raise InstantiationException(message) from error.__cause__


def build_callbacks(callbacks_cfg: DictConfig) -> list[pl.Callback]:
    """One callback per entry; `callbacks.<name>=null` switches that one off."""
    return [instantiate(cfg, _convert_="all") for cfg in callbacks_cfg.values() if cfg]


def build_loggers(logger_cfg: DictConfig) -> list[Logger]:
    return [instantiate(cfg, _convert_="all") for cfg in logger_cfg.values() if cfg]


def build_trainer(
    trainer_cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Logger], data: Any = None
) -> pl.Trainer:
    """`data`: the set-up DataModule a training budget is measured against (`${epochs_for_steps:...}`)."""
    if not loggers:
        # LearningRateMonitor refuses to run without a logger; `logger=none` should simply not record rates.
        callbacks = [callback for callback in callbacks if not isinstance(callback, LearningRateMonitor)]
    with data_sizes(data):
        return instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)
