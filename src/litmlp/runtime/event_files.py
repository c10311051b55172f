"""Rewinding TensorBoard event files to a moment, so that a resumed run continues one set of curves.

A run killed after its last checkpoint has already logged some steps that the resumed run will repeat.
Every event carries the wall time it was logged at, and the checkpoint records when it was saved (after
flushing the loggers), so dropping the events logged after that moment leaves exactly one point per step.
"""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.summary.writer.record_writer import RecordWriter

from litmlp.files import replacing


def rewind_event_files(root: Path, until: float) -> int:
    """Drop the events logged after wall time `until` from every event file under `root`.

    Files are rewritten atomically; a file left with no events is removed. Returns the number dropped.
    """
    dropped = 0
    for path in sorted(root.rglob("*tfevents*")):
        records = list(RawEventFileLoader(str(path)).Load())
        kept = [record for record in records if Event.FromString(record).wall_time <= until]
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
