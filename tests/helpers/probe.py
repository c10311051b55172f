"""A Lightning callback that tests add through the config (`+callbacks.probe=...`) to see where a run ran:
it records its process, its `CUDA_VISIBLE_DEVICES`, the garbage collector's state and when it trained in
`probe.json` in its run directory. With `meet`, a run waits (up to `timeout` s) at the start of training
until `meet` runs have arrived in `arrivals` and fails if they never do: the runs that pass it ran at the
same time."""

from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl


class RecordEnvironment(pl.Callback):
    def __init__(self, arrivals: str, meet: int = 1, timeout: float = 60) -> None:
        self.arrivals = Path(arrivals)
        self.meet = meet
        self.timeout = timeout
        self.record: dict[str, Any] = {}

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.arrivals.mkdir(parents=True, exist_ok=True)
        (self.arrivals / str(os.getpid())).touch()
        deadline = time.monotonic() + self.timeout
        while len(list(self.arrivals.iterdir())) < self.meet:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no other run arrived within {self.timeout} s")
            time.sleep(0.05)
        self.record = {
            "pid": os.getpid(),
            "gc_threshold": gc.get_threshold(),
            "gc_frozen": gc.get_freeze_count(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
            "start": time.time(),
        }

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.record["end"] = time.time()
        run_dir = Path(trainer.default_root_dir)
        (run_dir / "probe.json").write_text(json.dumps(self.record))
