"""An 8-run grid of the default config (5 epochs each), run serially and then in parallel on this machine.

Both sides are the same `litmlp train -m` command (seeds 0-7), once with Hydra's basic launcher and once
with `hydra/launcher=parallel`, each in a fresh directory, alternately `--repeats` times (a 2-core machine
is noisy). Prints, for each side, the median of the command's wall time and of the time from the first
run's start to the last run's end (the runs' own logs: what the launcher changes, without the start-up both
sides share), and the ratios of the medians.

    python scripts/benchmark_sweep.py [--runs 8] [--epochs 5] [--n-jobs 2] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def _stamp(line: str) -> float:
    """The time of a log line: `[2026-11-27 08:05:03,960][...`."""
    return datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def sweep_seconds(runs: int, epochs: int, extra: list[str]) -> tuple[float, float]:
    """(the command's wall time, the first run's start to the last run's end)."""
    seeds = ",".join(str(seed) for seed in range(runs))
    command = [
        sys.executable, "-m", "litmlp", "train", "-m", f"seed={seeds}", "trainer=cpu",
        f"trainer.max_epochs={epochs}", "callbacks.rich_progress_bar=null", *extra,
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        subprocess.run(command, cwd=workdir, check=True, capture_output=True)
        wall = time.perf_counter() - start
        logs = [
            path.read_text().splitlines() for path in Path(workdir).glob("logs/train/multiruns/*/*/train.log")
        ]
        assert len(logs) == runs, f"{len(logs)} of {runs} runs left a log"
        span = max(_stamp(lines[-1]) for lines in logs) - min(_stamp(lines[0]) for lines in logs)
    return wall, span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    parallel_launcher = ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={args.n_jobs}"]
    times: dict[str, list[tuple[float, float]]] = {"serial": [], "parallel": []}
    for _ in range(args.repeats):
        times["serial"].append(sweep_seconds(args.runs, args.epochs, []))
        times["parallel"].append(sweep_seconds(args.runs, args.epochs, parallel_launcher))
    serial, parallel = (
        tuple(statistics.median(measured[index] for measured in times[side]) for index in (0, 1))
        for side in ("serial", "parallel")
    )
    results = {
        "runs": args.runs,
        "epochs": args.epochs,
        "n_jobs": args.n_jobs,
        "repeats": args.repeats,
        "all_s": times,
        "serial_wall_s": serial[0],
        "parallel_wall_s": parallel[0],
        "wall_speedup": serial[0] / parallel[0],
        "serial_runs_s": serial[1],
        "parallel_runs_s": parallel[1],
        "runs_speedup": serial[1] / parallel[1],
    }
    print(
        f"{args.runs}-run sweep, {args.epochs} epochs each, parallel with {args.n_jobs} jobs "
        f"(medians of {args.repeats}):"
    )
    for label, index in (("command wall time", 0), ("first run start to last run end", 1)):
        print(
            f"  {label}: serial {serial[index]:.1f} s, parallel {parallel[index]:.1f} s, "
            f"{serial[index] / parallel[index]:.2f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
