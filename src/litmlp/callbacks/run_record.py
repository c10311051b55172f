"""Makes every checkpoint self-describing and safe to load: the run's config and the data's state go in,
objects that only a pickle could hold come out."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from litmlp.checkpoint import CONFIG_KEY, DATA_KEY

_PLAIN = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """`value` with every object that `torch.load(weights_only=True)` would refuse replaced by its repr."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return repr(value)


class RunRecord(pl.Callback):
    """`config`: the run's resolved config, a plain dict, so a checkpoint alone rebuilds model and data.

    A LightningModule written the usual way calls `save_hyperparameters()` with its net (an `nn.Module`)
    and optimizer (a partial) among them; Lightning would pickle those into every checkpoint, which a safe
    load then refuses. The config rebuilds them, so the checkpoint keeps their repr instead.

    It also keeps the last validation's metrics (`validation`) in the training state: a run resumed after
    its last epoch (stopped while testing) reports them as the uninterrupted run does.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.validation: dict[str, float] = {}

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            metrics = trainer.callback_metrics.items()
            self.validation = {name: float(value) for name, value in metrics if name.startswith("val/")}

    def state_dict(self) -> dict[str, Any]:
        return {"validation": self.validation}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.validation = dict(state_dict.get("validation", {}))

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config
        for key in ("hyper_parameters", "datamodule_hyper_parameters"):
            if key in checkpoint:
                checkpoint[key] = plain(dict(checkpoint[key]))
        datamodule = getattr(trainer, "datamodule", None)
        if datamodule is not None:
            checkpoint[DATA_KEY] = datamodule.state_dict()
