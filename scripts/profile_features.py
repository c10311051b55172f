"""What each default feature of `litmlp train` costs per epoch, measured in one process.

Runs the default config, then the same with one feature switched off at a time, and finally Lightning's
loop with nothing of ours but the model ("bare"), repeated in turns; prints the median CPU time per epoch
(one torch thread) and its share of the default's.

    python scripts/profile_features.py [--epochs 25] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import torch

from litmlp.config import compose_config
from litmlp.tasks.train import train

BARE = [
    "callbacks=none",
    "logger=none",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]
VARIANTS: dict[str, list[str]] = {
    "default": [],
    "no progress bar": ["callbacks.rich_progress_bar=null", "trainer.enable_progress_bar=false"],
    "no model summary": ["callbacks.model_summary=null", "trainer.enable_model_summary=false"],
    "no LR monitor": ["callbacks.lr_monitor=null"],
    "no confusion image": ["callbacks.confusion_matrix=null"],
    "no resume checkpoint": ["callbacks.resume_checkpoint=null"],
    "no TensorBoard": ["logger=none"],
    "bare Lightning loop": BARE,
    "bare, no validation": [*BARE, "trainer.check_val_every_n_epoch=1000"],
}


def cpu_ms_per_epoch(overrides: list[str], epochs: int) -> float:
    # Early stopping off, so every run trains the same number of epochs.
    base = [f"trainer.max_epochs={epochs}", "trainer=cpu", "test=false"]
    if "callbacks=none" not in overrides:
        base.append("callbacks.early_stopping=null")
    with tempfile.TemporaryDirectory() as workdir:
        cfg = compose_config("train", [*base, *overrides], Path(workdir))
        start = time.process_time()
        train(cfg)
        return (time.process_time() - start) * 1000 / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.INFO)
    # One thread: the features cost Python time on the main thread, and CPU time (steadier than wall time
    # on a shared machine) would otherwise also count the second thread's spinning.
    torch.set_num_threads(1)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.repeats):
        for name, overrides in VARIANTS.items():
            times[name].append(cpu_ms_per_epoch(overrides, args.epochs))
    default = statistics.median(times["default"])
    print(f"{'variant':<24}{'CPU ms/epoch':>14}{'of default':>12}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<24}{median:>14.1f}{median / default:>12.0%}")


if __name__ == "__main__":
    main()
