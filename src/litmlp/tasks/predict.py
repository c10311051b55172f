"""`litmlp predict ckpt_path=... input=rows.csv output=predictions.csv`.

Applies the checkpoint's own standardisation and label names; the input may or may not hold the target
column. A CSV input is read, predicted and written `batch_size` rows at a time, so memory stays bounded.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from litmlp.data.columns import MISSING_TEXT
from litmlp.data.readers import Table, label_text, open_csv, parse_csv_rows, read_table
from litmlp.errors import LitmlpError
from litmlp.files import replacing
from litmlp.tasks.trained_model import TrainedModel, load_trained_model

log = logging.getLogger(__name__)


def _csv_batches(path: Path, trained: TrainedModel, batch_size: int, encoding: str) -> Iterator[Table]:
    with open_csv(path, encoding, "encoding") as (header, rows):
        missing = [name for name in trained.columns if name not in header]
        if missing:
            raise LitmlpError(
                f"{path}: feature column '{missing[0]}' not found; the checkpoint was trained on "
                f"{len(trained.columns)} feature columns: {', '.join(trained.columns)}"
            )
        target = trained.target if trained.target in header else None
        while True:
            table = parse_csv_rows(path, header, rows, trained.columns, target, limit=batch_size)
            if len(table) == 0:
                return
            yield table


def _table_batches(path: Path, trained: TrainedModel, batch_size: int, encoding: str) -> Iterator[Table]:
    npz = path.suffix.lower() == ".npz"
    table = read_table(
        path,
        trained.target,
        None if npz else trained.columns,
        require_target=False,
        encoding=encoding,
        encoding_option="encoding",
        keep_unlabelled=True,
    )
    if len(table.cells) != len(trained.columns):
        raise LitmlpError(
            f"{path} has {len(table.cells)} feature columns, the checkpoint was trained on "
            f"{len(trained.columns)}"
        )
    if npz:  # an array's columns are the trained columns in order
        table.cells = dict(zip(trained.columns, table.cells.values(), strict=True))
    for start in range(0, len(table), batch_size):
        rows = np.arange(start, min(start + batch_size, len(table)))
        yield table.take(rows)


def predict(cfg: DictConfig) -> dict[str, Any]:
    trained = load_trained_model(cfg.ckpt_path, cfg)
    source, output = Path(cfg.input), Path(cfg.output)
    if output.is_dir():
        raise LitmlpError(f"output={output} is a directory; name a .csv file to write")
    if output.suffix.lower() != ".csv":
        raise LitmlpError(f"output={output}: predictions are written as CSV, use a .csv name")
    if not source.is_file():
        raise LitmlpError(f"input file not found: {source}")
    batches = (_csv_batches if source.suffix.lower() == ".csv" else _table_batches)(
        source, trained, cfg.batch_size, cfg.encoding
    )

    rows = correct = labelled = 0
    output.parent.mkdir(parents=True, exist_ok=True)
    with replacing(output) as partial, partial.open("w", newline="") as file, torch.inference_mode():
        writer = csv.writer(file)
        writer.writerow(["prediction", *(f"prob_{name}" for name in trained.classes)])
        for table in batches:
            features = trained.encoder.transform(table.cells, table.path, table.rows, at_prediction=True)
            probabilities = trained.model(torch.from_numpy(features)).numpy()
            predicted = [trained.classes[i] for i in probabilities.argmax(axis=1)]
            for label, row in zip(predicted, probabilities, strict=True):
                writer.writerow([label, *(f"{p:.6g}" for p in row)])
            rows += len(predicted)
            if table.labels is not None:  # rows without a label count for no accuracy
                pairs = [
                    (p, t) for p, t in zip(predicted, table.labels, strict=True) if t not in MISSING_TEXT
                ]
                labelled += len(pairs)
                correct += sum(label_text(p) == t for p, t in pairs)  # t was read normalised
        if rows == 0:  # inside the block: no output file is left behind
            raise LitmlpError(f"{source} has a header but no rows")
    for column, count in trained.encoder.unseen.items():
        log.warning(
            "%s: column '%s': %d row(s) with a category not seen in training, encoded as all zeros",
            source,
            column,
            count,
        )
    summary: dict[str, Any] = {"rows": rows, "output": str(output)}
    message = f"Wrote {rows} predictions to {output}"
    if labelled:
        summary["accuracy"] = correct / labelled
        message += f" (accuracy on its '{trained.target}' column: {correct / labelled:.6f})"
    log.info(message)
    return summary
