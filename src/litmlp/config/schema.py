"""The schemas of the commands' own configs (`conf/train.yaml`, `eval.yaml`, ...): their top-level keys,
types and defaults. A component's schema (data, model, trainer, callbacks, loggers) is its class's
constructor signature instead (see `litmlp.config.signature`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    log_dir: str = MISSING
    data_dir: str = MISSING
    output_dir: str = MISSING


@dataclass
class TrainConfig:
    task_name: str = "train"
    tags: list[str] = field(default_factory=list)
    seed: int = 0
    # Start a new run from these weights (fine-tuning); the optimizer and epoch counters start fresh.
    ckpt_path: str | None = None
    # Continue a run in place: its directory, or `latest` (the newest unfinished run of this task).
    resume: str | None = None
    # The full training state `trainer.fit` restores (set by `resume=`).
    fit_ckpt_path: str | None = None
    # Module prefixes, beyond litmlp's own allow-list, that a checkpoint's stored config may build.
    trusted_targets: list[str] = field(default_factory=list)
    # Test the best checkpoint after fitting.
    test: bool = True
    float32_matmul_precision: str | None = None
    # Intra-op threads of torch; null: torch's default, or cores / n_jobs under a parallel launcher.
    torch_threads: int | None = None
    data: Any = MISSING
    model: Any = MISSING
    trainer: Any = MISSING
    callbacks: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    paths: PathsConfig = field(default_factory=PathsConfig)


@dataclass
class EvalConfig:
    task_name: str = "eval"
    tags: list[str] = field(default_factory=list)
    seed: int = 0
    ckpt_path: str = MISSING
    # Module prefixes, beyond litmlp's own allow-list, that the checkpoint's config may build.
    trusted_targets: list[str] = field(default_factory=list)
    float32_matmul_precision: str | None = None
    trainer: Any = MISSING
    callbacks: dict[str, Any] = field(default_factory=dict)
    logger: dict[str, Any] = field(default_factory=dict)
    paths: PathsConfig = field(default_factory=PathsConfig)
    # The run's own data and model, from the config stored in the checkpoint. `data.KEY=...` on the command
    # line changes one of its data settings: `data.path=other.csv` tests the checkpoint on other rows.
    data: dict[str, Any] = field(default_factory=dict)
    model: Any = None


@dataclass
class PredictConfig:
    task_name: str = "predict"
    ckpt_path: str = MISSING
    input: str = MISSING
    output: str = MISSING
    # Rows read, predicted and written at a time: memory stays bounded for large files.
    batch_size: int = 4096
    # The text encoding of a CSV input.
    encoding: str = "utf-8"
    trusted_targets: list[str] = field(default_factory=list)
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: Any = None
    model: Any = None


@dataclass
class ExportConfig:
    task_name: str = "export"
    ckpt_path: str = MISSING
    # torchscript or onnx
    format: str = "torchscript"
    # None: next to the checkpoint, <checkpoint name>.pt / .onnx
    output: str | None = None
    # The export is checked against the PyTorch model on this many rows; it fails above `tolerance`.
    sample_rows: int = 256
    tolerance: float = 1e-5
    trusted_targets: list[str] = field(default_factory=list)
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: Any = None
    model: Any = None


@dataclass
class ServeConfig:
    task_name: str = "serve"
    ckpt_path: str = MISSING
    # 127.0.0.1: this machine only; 0.0.0.0 (or ::) serves every network the machine is on.
    host: str = "127.0.0.1"
    port: int = 8000
    # Dynamic batching: requests that arrive within `batch_timeout` seconds of each other run through the
    # model together, up to `max_batch_size` requests.
    max_batch_size: int = 64
    batch_timeout: float = 0.005
    # The most rows one request may hold; a larger one gets HTTP 413.
    max_rows: int = 1024
    # cpu, cuda, mps or auto (a GPU when there is one).
    accelerator: str = "auto"
    workers_per_device: int = 1
    # Seconds a request may wait for the model before it gets HTTP 504.
    timeout: float = 30.0
    trusted_targets: list[str] = field(default_factory=list)
    paths: PathsConfig = field(default_factory=PathsConfig)
    data: Any = None
    model: Any = None


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="eval_schema", node=EvalConfig)
    store.store(name="predict_schema", node=PredictConfig)
    store.store(name="export_schema", node=ExportConfig)
    store.store(name="serve_schema", node=ServeConfig)
    store.store(group="schema/paths", name="default", node=PathsConfig)
