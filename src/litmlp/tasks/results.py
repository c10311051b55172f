"""What a run leaves behind: `metrics.json`, the printed metrics table, TensorBoard's HPARAMS entry, and
in MLflow the best checkpoint and `metrics.json` as artifacts.

Everything is read from generic Lightning state (`trainer.callback_metrics`, the checkpoint callback's
best score and path), so it holds for any LightningModule.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import Logger, TensorBoardLogger

from litmlp.checkpoint import load_checkpoint
from litmlp.errors import LitmlpError
from litmlp.files import replacing
from litmlp.layout import METRICS_FILE
from litmlp.loggers import job_name, user_overrides
from litmlp.tracking import MLFlowLogger, WandbLogger

log = logging.getLogger(__name__)
# What makes up a run's hyper-parameters in TensorBoard's HPARAMS tab: the seed, the data and model
# sections without loader mechanics, and the trainer settings that change what is learned.
HPARAM_SECTIONS = ("seed", "data", "model")
NOT_HPARAMS = {"data/eval_batch_size", "data/num_workers", "data/pin_memory", "data/persistent_workers"}
TRAINER_HPARAMS = ("max_epochs", "precision", "accumulate_grad_batches", "gradient_clip_val")


def as_floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(value) for name, value in metrics.items()}


def write_json_atomic(path: Path, content: Mapping[str, Any]) -> None:
    """A reader (a sweep summary, a continued run) never sees a half-written file."""
    with replacing(path) as partial:
        partial.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def load_weights(model: pl.LightningModule, checkpoint: dict[str, Any], path: str) -> None:
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as error:  # parameter shapes differ: another number of features or classes
        detail = next((line.strip() for line in str(error).splitlines() if "size mismatch" in line), "")
        raise LitmlpError(f"the weights in {path} do not fit this model and data: {detail}") from None
    log.info("Starting from the weights of %s", path)


def _best(trainer: pl.Trainer) -> dict[str, Any]:
    """The monitored metric, its best value, and the epoch and file of the best checkpoint."""
    callback = trainer.checkpoint_callback
    if not isinstance(callback, ModelCheckpoint) or not callback.best_model_path:
        return {"monitor": None, "best_score": None, "best_epoch": None, "best_checkpoint": None}
    saved = load_checkpoint(callback.best_model_path)
    score = callback.best_model_score
    if score is None:  # fitting ran in other processes, and only the path came back: read the file
        state: dict[str, Any] = next(
            (v for k, v in saved.get("callbacks", {}).items() if k.startswith("ModelCheckpoint")), {}
        )
        score = state.get("best_model_score")
    return {
        "monitor": callback.monitor,
        "best_mode": callback.mode,
        "best_score": None if score is None else float(score),
        "best_epoch": saved["epoch"],
        "best_checkpoint": callback.best_model_path,
    }


def report_training(
    trainer: pl.Trainer,
    config: dict[str, Any],
    fitted: Mapping[str, Any],
    test_results: list[Mapping[str, Any]],
    started: float,
) -> dict[str, Any]:
    """Write `metrics.json`, the HPARAMS entry and the results table; returns the summary.

    `config`: the run's resolved config (as stored in its checkpoints); `fitted`: the callback metrics
    at the end of fitting."""
    val = as_floats({k: v for k, v in fitted.items() if k.startswith("val/")})
    test = as_floats(test_results[0]) if test_results else {}
    summary: dict[str, Any] = {
        "val": val,
        "test": test,
        **_best(trainer),
        "epochs_trained": trainer.current_epoch,
        "global_step": trainer.global_step,
        "wall_time_s": time.perf_counter() - started,
        # The training rows and schema (a DataModule with a `fingerprint`, as litmlp's tabular ones have)
        "data_fingerprint": getattr(getattr(trainer, "datamodule", None), "fingerprint", None),
    }
    if not trainer.is_global_zero:  # every process synchronised the same metrics; its log says so
        log.info(
            "Results on rank %d: %s",
            trainer.global_rank,
            json.dumps({"val": val, "test": test}, sort_keys=True),
        )
        return summary
    output_dir = config["paths"]["output_dir"]
    write_json_atomic(Path(output_dir) / METRICS_FILE, summary)
    log_hparams(trainer.loggers, config, {**val, **test}, trainer.global_step)
    files = {"": Path(output_dir) / METRICS_FILE}
    if summary["best_checkpoint"]:
        files["checkpoints"] = Path(summary["best_checkpoint"])
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger):
            logger.log_run_files(files)
    log.info(
        "Results (best %s %s at epoch %s):\n%s",
        summary["monitor"],
        summary["best_score"],
        summary["best_epoch"],
        metrics_table({"val": val, "test": test}),
    )
    log.info("Run directory: %s", output_dir)
    return summary


def early_stop_reason(trainer: pl.Trainer) -> str:
    """One line when early stopping ended the fit, and why (Lightning's reason: patience exhausted, a
    non-finite value, a threshold), else ''. Read it right after fitting: testing a checkpoint restores
    the callbacks' state from that checkpoint."""
    for callback in trainer.callbacks:  # type: ignore[attr-defined]
        if not isinstance(callback, EarlyStopping) or not trainer.should_stop:
            continue
        reason = getattr(callback, "stopping_reason_message", None)
        if reason is None and callback.stopped_epoch == 0:
            continue  # this callback did not stop the run
        return (
            f"Early stopping after {callback.stopped_epoch + 1} of {trainer.max_epochs} epochs: "
            f"{reason or f'{callback.monitor} stopped improving'} "
            "(callbacks.early_stopping.patience=N waits longer, callbacks.early_stopping=null never stops)"
        )
    return ""


def report_evaluation(
    trainer: pl.Trainer, checkpoint: Path, output_dir: Path, results: list[Mapping[str, Any]]
) -> dict[str, Any]:
    test = as_floats(results[0]) if results else {}
    summary: dict[str, Any] = {"checkpoint": str(checkpoint.resolve()), "test": test}
    if trainer.is_global_zero:
        write_json_atomic(output_dir / METRICS_FILE, summary)
        log.info("Results for %s:\n%s", checkpoint, metrics_table({"test": test}))
        log.info("Run directory: %s", output_dir)
    return summary


def metrics_table(stages: Mapping[str, Mapping[str, float]]) -> str:
    """A small text table: one row per metric, one column per stage ('val', 'test')."""
    names = sorted({key.split("/", 1)[1] for values in stages.values() for key in values})
    header = f"{'metric':<10}" + "".join(f"{stage:>12}" for stage in stages)
    rows = [header, "-" * len(header)]
    for name in names:
        cells = "".join(
            f"{values[f'{stage}/{name}']:>12.6f}" if f"{stage}/{name}" in values else f"{'':>12}"
            for stage, values in stages.items()
        )
        rows.append(f"{name:<10}{cells}")
    return "\n".join(rows)


def flat_hparams(config: Mapping[str, Any]) -> dict[str, Any]:
    """The run's hyper-parameters as flat `section/key` entries TensorBoard can show (str/int/float/bool)."""
    flat: dict[str, Any] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            if "_target_" in value and prefix.startswith("model/"):
                flat[f"{prefix}/name"] = str(value["_target_"]).rsplit(".", 1)[-1]
            for key, item in value.items():
                if not str(key).startswith("_"):
                    visit(f"{prefix}/{key}" if prefix else str(key), item)
        elif isinstance(value, (str, int, float, bool)):
            flat[prefix] = value
        elif value is not None:
            flat[prefix] = str(value)

    for section in HPARAM_SECTIONS:
        visit(section, config[section])
    for key in TRAINER_HPARAMS:
        visit(f"trainer/{key}", config["trainer"].get(key))
    for key in NOT_HPARAMS:
        flat.pop(key, None)
    return flat


def run_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The run's hyper-parameters as every logger gets them: those the command line set first."""
    return first_the_overridden(flat_hparams(config), user_overrides())


def log_tracker_params(loggers: list[Logger], config: Mapping[str, Any]) -> None:
    """MLflow and W&B get the run's parameters as it starts too: a running, failed or killed run of a sweep
    can be compared with the others."""
    params = run_params(config)
    for logger in loggers:
        if isinstance(logger, (MLFlowLogger, WandbLogger)):
            logger.log_hyperparams(params)


def log_hparams(
    loggers: list[Logger], config: Mapping[str, Any], metrics: Mapping[str, float], step: int
) -> None:
    """One HPARAMS entry per run, written at its end so the metrics are the run's real results.

    In TensorBoard the parameters set on the command line (those a sweep varies) come first and the trial
    is named by its sweep job number and those settings, so runs of a sweep are told apart at a glance.
    Its metrics are the run's own scalars (`val/acc`, `test/acc`: TensorBoard shows their last value), not
    copies; MLflow shows them too (a metric's last value); other loggers (CSV, W&B) get the final values as
    `hp/<stage>_<metric>`, at the run's last `step`."""
    finite = {name: value for name, value in metrics.items() if math.isfinite(value)}
    params = run_params(config)
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            _write_tensorboard_hparams(logger, params, finite, job_name(config["paths"]["output_dir"]))
        else:
            logger.log_hyperparams(params)
            if not isinstance(logger, MLFlowLogger):  # whose runs table shows every metric's last value
                hp = {f"hp/{name.replace('/', '_')}": value for name, value in finite.items()}
                logger.log_metrics(hp, step)
        logger.save()


def first_the_overridden(params: Mapping[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`params` with those an override set first (`model.optimizer.lr=...` -> `model/optimizer/lr`, a group
    choice `model=linear` -> `model/name`), in the command line's order; then the rest."""
    first: list[str] = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~").replace(".", "/")
        for name in (key, f"{key}/name"):
            if name in params and name not in first:
                first.append(name)
    return {**{name: params[name] for name in first}, **params}


def _write_tensorboard_hparams(
    logger: TensorBoardLogger, params: dict[str, Any], metrics: dict[str, float], trial: str
) -> None:
    """Lightning's `log_hyperparams(params, metrics)`, with the trial named, the metrics read from the
    run's scalars of the same name (not logged again) and `hparams.yaml` rewritten (Lightning writes that
    file once, at the first save, when it is still empty)."""
    from lightning.pytorch.core.saving import save_hparams_to_yaml
    from tensorboard.plugins.hparams import plugin_data_pb2
    from torch.utils.tensorboard.summary import hparams

    logger.hparams.update(params)
    experiment, start, end = hparams(params, metrics)
    plugin = start.value[0].metadata.plugin_data
    content = plugin_data_pb2.HParamsPluginData.FromString(plugin.content)
    content.session_start_info.group_name = trial
    plugin.content = content.SerializeToString()
    writer = logger.experiment._get_file_writer()  # as Lightning's own log_hyperparams does
    for summary in (experiment, start, end):
        writer.add_summary(summary)
    save_hparams_to_yaml(Path(logger.log_dir) / TensorBoardLogger.NAME_HPARAMS_FILE, logger.hparams)
