"""Structured-config schemas: what each config may contain, and of which type.

Hydra validates every composed config against these dataclasses before anything is built, so a typo'd
key or a value of the wrong type fails at the command line. The yaml files in `conf/` pick their schema
through their defaults list (`- /schema/<group>/<name>@_here_`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import II, MISSING


@dataclass
class PathsConfig:
    root_dir: str = MISSING
    log_dir: str = MISSING
    data_dir: str = MISSING
    output_dir: str = MISSING


@dataclass
class DataLoadingConfig:
    """Arguments of `litmlp.data.TabularDataModule`, shared by every tabular dataset."""

    _target_: str = MISSING
    batch_size: int = 128
    eval_batch_size: int = 1024
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    shuffle_seed: int = II("seed")
    standardize: bool = True
    num_workers: int = 0
    pin_memory: bool = False
    persistent_workers: bool = False


@dataclass
class SyntheticDataConfig(DataLoadingConfig):
    _target_: str = "litmlp.data.SyntheticDataModule"
    num_samples: int = 10_000
    num_features: int = 50
    num_classes: int = 3
    turns: float = 0.75
    jitter: float = 0.06
    noise: float = 0.5
    seed: int = 0


@dataclass
class FileDataConfig(DataLoadingConfig):
    _target_: str = "litmlp.data.FileDataModule"
    path: str = MISSING
    target: str = "label"
    features: list[str] | None = None
    val_path: str | None = None
    test_path: str | None = None


@dataclass
class MLPConfig:
    _target_: str = "litmlp.models.MLP"
    _partial_: bool = True
    hidden: list[int] = field(default_factory=lambda: [30, 20])


@dataclass
class AdamWConfig:
    _target_: str = "torch.optim.AdamW"
    _partial_: bool = True
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    weight_decay: float = 0.01


@dataclass
class SGDConfig:
    _target_: str = "torch.optim.SGD"
    _partial_: bool = True
    lr: float = 0.05
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0


@dataclass
class CosineSchedulerConfig:
    _target_: str = "torch.optim.lr_scheduler.CosineAnnealingLR"
    _partial_: bool = True
    T_max: int = II("trainer.max_epochs")  # torch's argument name
    eta_min: float = 0.0


@dataclass
class PlateauSchedulerConfig:
    _target_: str = "torch.optim.lr_scheduler.ReduceLROnPlateau"
    _partial_: bool = True
    mode: str = "min"
    factor: float = 0.5
    patience: int = 3
    min_lr: float = 0.0


@dataclass
class ClassifierConfig:
    _target_: str = "litmlp.modules.Classifier"
    net: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = None
    scheduler_monitor: str = "val/loss"


@dataclass
class TrainerConfig:
    """The `lightning.pytorch.Trainer` arguments a run may set. Union-typed ones are `Any`."""

    _target_: str = "lightning.pytorch.Trainer"
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: Any = "auto"
    num_nodes: int = 1
    precision: Any = "32-true"
    max_epochs: int = 20
    min_epochs: int | None = None
    max_steps: int = -1
    max_time: str | None = None
    check_val_every_n_epoch: int | None = 1
    val_check_interval: Any = None
    log_every_n_steps: int = 10
    num_sanity_val_steps: int | None = None
    fast_dev_run: Any = False
    limit_train_batches: Any = None
    limit_val_batches: Any = None
    limit_test_batches: Any = None
    limit_predict_batches: Any = None
    overfit_batches: Any = 0.0
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = None
    gradient_clip_algorithm: str | None = None
    deterministic: Any = None
    benchmark: bool | None = None
    inference_mode: bool = True
    profiler: Any = None
    detect_anomaly: bool = False
    enable_progress_bar: bool = True
    enable_model_summary: bool = True
    enable_checkpointing: bool = True
    sync_batchnorm: bool = False
    use_distributed_sampler: bool = True
    reload_dataloaders_every_n_epochs: int = 0
    default_root_dir: str | None = None


@dataclass
class ModelCheckpointConfig:
    _target_: str = "lightning.pytorch.callbacks.ModelCheckpoint"
    dirpath: str | None = None
    filename: str | None = None
    monitor: str | None = None
    mode: str = "min"
    save_top_k: int = 1
    save_last: bool | None = None
    auto_insert_metric_name: bool = True
    save_weights_only: bool = False
    every_n_train_steps: int | None = None
    every_n_epochs: int | None = None
    train_time_interval: Any = None
    save_on_train_epoch_end: bool | None = None
    enable_version_counter: bool = True
    verbose: bool = False


@dataclass
class EarlyStoppingConfig:
    _target_: str = "lightning.pytorch.callbacks.EarlyStopping"
    monitor: str = MISSING
    mode: str = "min"
    patience: int = 3
    min_delta: float = 0.0
    strict: bool = True
    check_finite: bool = True
    stopping_threshold: float | None = None
    divergence_threshold: float | None = None
    check_on_train_epoch_end: bool | None = None
    verbose: bool = False


@dataclass
class TrainConfig:
    task_name: str = "train"
    tags: list[str] = field(default_factory=list)
    seed: int = 0
    ckpt_path: str | None = None
    resume: str | None = None
    trusted_targets: list[str] = field(default_factory=list)
    test: bool = True
    float32_matmul_precision: str | None = None
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
    trusted_targets: list[str] = field(default_factory=list)
    float32_matmul_precision: str | None = None
    trainer: Any = MISSING
    logger: dict[str, Any] = field(default_factory=dict)
    paths: PathsConfig = field(default_factory=PathsConfig)


@dataclass
class PredictConfig:
    task_name: str = "predict"
    ckpt_path: str = MISSING
    input: str = MISSING
    output: str = MISSING
    batch_size: int = 4096
    trusted_targets: list[str] = field(default_factory=list)
    paths: PathsConfig = field(default_factory=PathsConfig)


@dataclass
class ExportConfig:
    task_name: str = "export"
    ckpt_path: str = MISSING
    format: str = "torchscript"
    output: str | None = None
    sample_rows: int = 256
    tolerance: float = 1e-5
    trusted_targets: list[str] = field(default_factory=list)
    paths: PathsConfig = field(default_factory=PathsConfig)


SCHEMAS: dict[str, dict[str, type]] = {
    "data": {"tabular": DataLoadingConfig, "synthetic": SyntheticDataConfig, "file": FileDataConfig},
    "net": {"mlp": MLPConfig},
    "optimizer": {"adamw": AdamWConfig, "sgd": SGDConfig},
    "scheduler": {"cosine": CosineSchedulerConfig, "plateau": PlateauSchedulerConfig},
    "model": {"classifier": ClassifierConfig},
    "trainer": {"lightning": TrainerConfig},
    "callbacks": {"model_checkpoint": ModelCheckpointConfig, "early_stopping": EarlyStoppingConfig},
}


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(name="train_schema", node=TrainConfig)
    store.store(name="eval_schema", node=EvalConfig)
    store.store(name="predict_schema", node=PredictConfig)
    store.store(name="export_schema", node=ExportConfig)
    store.store(group="schema/paths", name="default", node=PathsConfig)
    for group, schemas in SCHEMAS.items():
        for name, schema in schemas.items():
            store.store(group=f"schema/{group}", name=name, node=schema)
