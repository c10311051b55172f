"""`litmlp export ckpt_path=... format=torchscript|onnx`: a self-contained model file.

The file holds the net with the checkpoint's standardisation and returns class probabilities for raw
feature rows; the feature and class names travel inside it. Before reporting success the export is
loaded back and compared with the PyTorch model on sample rows drawn around the training statistics.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from omegaconf import DictConfig

from litmlp.errors import LitmlpError
from litmlp.files import replacing
from litmlp.tasks.trained_model import TrainedModel, load_trained_model

log = logging.getLogger(__name__)
SUFFIXES = {"torchscript": ".pt", "onnx": ".onnx"}


def _sample_rows(trained: TrainedModel, count: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    mean, std = trained.model.feature_mean, trained.model.feature_std
    return mean + std * torch.randn(count, len(trained.feature_names), generator=generator)


def _torchscript(trained: TrainedModel, sample: torch.Tensor, path: Path, metadata: str) -> torch.Tensor:
    # PyTorch deprecates TorchScript in favour of torch.export; it still runs, and the README says so once.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.trace(trained.model, sample[:2])
        torch.jit.save(scripted, str(path), _extra_files={"litmlp.json": metadata})
        return torch.jit.load(str(path))(sample)


def _onnx(trained: TrainedModel, sample: torch.Tensor, path: Path, metadata: str) -> torch.Tensor:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise LitmlpError(
            "format=onnx needs onnx, onnxscript and onnxruntime: pip install 'litmlp[onnx]'"
        ) from None
    for name in ("onnxscript", "onnx_ir"):  # their INFO logs describe every optimisation pass
        logging.getLogger(name).setLevel(logging.WARNING)
    # torch's exporter warns once per torchvision operator it cannot register ("torchvision is not
    # installed"): an MLP uses none of them.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        # torch.export on torch >= 2.10 trips over its own deprecated pytree API: nothing to act on.
        warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
        program = torch.onnx.export(
            trained.model,
            (sample[:2],),
            dynamo=True,
            input_names=["features"],
            output_names=["probabilities"],
            dynamic_shapes=({0: batch},),
            external_data=False,
            verbose=False,
        )
    assert program is not None
    program.save(str(path))
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {"litmlp": metadata})
    onnx.save(model, str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"features": sample.numpy()})[0])


def export(cfg: DictConfig) -> dict[str, Any]:
    if cfg.format not in SUFFIXES:
        raise LitmlpError(f"format={cfg.format}: choose one of {', '.join(SUFFIXES)}")
    if cfg.sample_rows < 1:
        raise LitmlpError(f"sample_rows={cfg.sample_rows}: the export is checked on at least 1 row")
    trained = load_trained_model(cfg.ckpt_path, cfg)
    output = Path(cfg.output) if cfg.output else Path(cfg.ckpt_path).with_suffix(SUFFIXES[cfg.format])
    output.parent.mkdir(parents=True, exist_ok=True)
    metadata = json.dumps(
        {
            "inputs": trained.feature_names,
            "outputs": trained.classes,
            "returns": "class probabilities; inputs are raw (unstandardised) features",
            # How a table's columns become the inputs: a number as it is (a missing one: `fill`, plus a
            # `<name>_missing` 0/1 input when `indicator`), a category as one 0/1 input per `categories`.
            "encoding": trained.encoder.state(),
        }
    )
    sample = _sample_rows(trained, cfg.sample_rows)
    for module in trained.model.modules():
        if isinstance(module, pl.LightningModule):
            # Lightning's own switch for tracing (LightningModule.to_torchscript): its properties that
            # need a Trainer answer None instead of raising.
            module._jit_is_scripting = True
    with replacing(output) as partial, torch.no_grad():
        expected = trained.model(sample)
        got = (_torchscript if cfg.format == "torchscript" else _onnx)(trained, sample, partial, metadata)
        difference = float((got - expected).abs().max())
        if difference > cfg.tolerance:
            raise LitmlpError(
                f"the {cfg.format} export differs from the PyTorch model by {difference:.3g} on "
                f"{cfg.sample_rows} sample rows (tolerance {cfg.tolerance}); nothing written"
            )
    log.info(
        "Exported %s to %s; max abs difference to PyTorch on %d rows: %.3g",
        cfg.format,
        output,
        cfg.sample_rows,
        difference,
    )
    return {"output": str(output), "format": cfg.format, "max_abs_difference": difference}
