"""Rewinding TensorBoard event files to a moment, so that a resumed run continues one set of curves.

A run killed after its last checkpoint has already logged some steps that the resumed run will repeat.
Every event carries the wall time it was logged at and its step; the checkpoint records when it was saved
(after flushing the loggers) and the first step the resumed run logs. An event logged after the save at
such a step is dropped; one logged after the save at an earlier step stays: Lightning writes an epoch's
train metrics after the epoch-end checkpoint, at the epoch's last step, and the resumed run, which starts
with the next epoch, never writes them again. One point per step remains, as in an uninterrupted run.
"""

from __future__ import annotations

import csv
from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.record_writer import RecordWriter

from litmlp.files import replacing


def rewind_event_files(root: Path, until: float, repeats_from_step: int = 0) -> int:
    """Drop, from every event file under `root`, the events logged after wall time `until` at step
    `repeats_from_step` or later.

    Files are rewritten atomically; a file left with no events is removed. Returns the number dropped.
    """

    def kept_event(record: bytes) -> bool:
        event = Event.FromString(record)
        return event.wall_time <= until or event.step < repeats_from_step

    dropped = 0
    for path in sorted(root.rglob("*tfevents*")):
        records = list(RawEventFileLoader(str(path)).Load())
        kept = [record for record in records if kept_event(record)]
        if len(kept) == len(records):
            continue
        dropped += len(records) - len(kept)
        if len(kept) <= 1:  # nothing but the file-version header
            path.unlink()
            continue
        with replacing(path, durable=True) as partial, partial.open("wb") as file:
            writer = RecordWriter(file)
            for record in kept:
                writer.write(record)
    return dropped


def rewind_csv_files(root: Path, rows_at_save: dict[str, int], repeats_from_step: int) -> int:
    """The same for CSV logger files (`litmlp.loggers`), whose rows carry no time: `rows_at_save` says how
    many rows each file (by path under `root`) held when the checkpoint was saved. Of the later rows, those
    at step `repeats_from_step` or later are dropped. Returns the number dropped."""
    dropped = 0
    for name, saved in rows_at_save.items():
        path = root / name
        if not path.is_file():
            continue
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            columns, rows = reader.fieldnames or [], list(reader)
        later = [row for row in rows[saved:] if row.get("step") and float(row["step"]) < repeats_from_step]
        kept = rows[:saved] + later
        if len(kept) == len(rows):
            continue
        dropped += len(rows) - len(kept)
        with replacing(path) as partial, partial.open("w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows(kept)
    return dropped
