"""litmlp's TensorBoard logger: what was logged is in the event file when a flush is due or asked for."""

from __future__ import annotations

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litmlp.loggers import TensorBoardLogger


def scalars(logger: TensorBoardLogger, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(logger.log_dir)
    events.Reload()
    if tag not in events.Tags()["scalars"]:
        return []
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_a_save_writes_the_events_out_once_flush_every_s_has_passed(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), flush_every_s=0.0)
    for step in range(3):
        logger.log_metrics({"train/loss": 0.5**step, "epoch": step}, step=step)  # exact in float32
        logger.save()  # Lightning's call after every write
        assert scalars(logger, "train/loss") == [(s, 0.5**s) for s in range(step + 1)]
    assert scalars(logger, "epoch") == []  # Lightning's epoch scalar is left out


def test_flush_writes_the_events_out_at_once(tmp_path):
    logger = TensorBoardLogger(str(tmp_path), flush_every_s=3600.0)
    logger.log_metrics({"val/acc": 0.5}, step=4)
    logger.flush()  # the resume checkpoint's call before every save
    assert scalars(logger, "val/acc") == [(4, 0.5)]
    logger.log_metrics({"val/acc": 0.75}, step=9)
    logger.finalize("success")
    assert scalars(logger, "val/acc") == [(4, 0.5), (9, 0.75)]


def test_a_write_after_the_run_ended_is_written_out_by_the_next_save(tmp_path):
    """The HPARAMS and final metrics come after Lightning's finalize closed the file (tasks/results.py)."""
    logger = TensorBoardLogger(str(tmp_path), flush_every_s=3600.0)
    logger.log_metrics({"val/acc": 0.5}, step=1)
    logger.save()  # written out: the next save is not due for an hour
    logger.finalize("success")
    logger.log_metrics({"test/acc": 0.75}, step=1)
    logger.save()
    assert scalars(logger, "test/acc") == [(1, 0.75)]
