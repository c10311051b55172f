"""Rewinding TensorBoard event files to a moment, so that a resumed run continues one set of curves.

A run killed after its last checkpoint has already logged some steps that the resumed run will repeat.
Every event carries the wall time it was logged at and its step; the checkpoint records when it was saved
(after flushing the loggers) and the first step the resumed run logs. An event logged after the save at
such a step is dropped; one logged after the save at an earlier step stays: Lightning writes an epoch's
train metrics after the epoch-end checkpoint, at the epoch's last step, and the resumed run, which starts
with the next epoch, never writes them again. One point per step remains, as in an uninterrupted run.
"""

from __future__ import annotations

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
