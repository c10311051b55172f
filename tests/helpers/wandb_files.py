"""Reading an offline W&B run's `run-<id>.wandb` file, as `wandb sync` would send it.

The file is W&B's header (`:W&B`, 2 magic bytes, a version byte) then LevelDB's log format: 32 KiB blocks
of chunks, each with a 7-byte header (checksum, length, type: 1 full, 2 first, 3 middle, 4 last) and
holding a serialized `wandb_internal_pb2.Record`.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7


def records(path: Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    position, pending = 7, b""
    while position + HEADER <= len(data):
        left = BLOCK - position % BLOCK
        if left < HEADER:  # a block's tail too short for a header is padding
            position += left
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + HEADER])
        if kind == 0:  # zeroed rest of a block
            position += left
            continue
        chunk = data[position + HEADER : position + HEADER + length]
        position += HEADER + length
        if kind in (1, 2):
            pending = chunk
        else:
            pending += chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()  # type: ignore[attr-defined]
            record.ParseFromString(pending)
            yield record


def run_files(run_dir: Path) -> list[Path]:
    """The offline W&B run files of a litmlp run, oldest first (a resumed run adds one)."""
    return sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))


def run_info(path: Path) -> dict[str, Any]:
    """The run record: its id, group, whether it resumes, and the config it started with."""
    for record in records(path):
        if record.WhichOneof("record_type") == "run":
            run = record.run
            return {"id": run.run_id, "group": run.run_group, "resumed": run.resume}
    raise AssertionError(f"{path} has no run record")


def config(path: Path) -> dict[str, Any]:
    """Every config value set during the run (the last value of each key)."""
    values: dict[str, Any] = {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind in ("run", "config"):
            for item in (record.run.config if kind == "run" else record.config).update:
                key = item.key or "/".join(item.nested_key)
                values[key] = json.loads(item.value_json)
    return values


def history(path: Path) -> list[dict[str, Any]]:
    """Every `log` call's row."""
    rows = []
    for record in records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append(
                {
                    item.key or "/".join(item.nested_key): json.loads(item.value_json)
                    for item in record.history.item
                }
            )
    return rows
