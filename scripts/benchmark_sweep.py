"""An 8-run sweep of the default config, run serially and then in parallel on this machine.

Both sides are the same `litmlp train -m` command (seeds 0-7), once with Hydra's basic launcher and once
with `hydra/launcher=parallel`, each in a fresh directory; prints both wall times and their ratio.

    python scripts/benchmark_sweep.py [--runs 8] [--n-jobs 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def sweep_seconds(runs: int, epochs: int, extra: list[str]) -> float:
    seeds = ",".join(str(seed) for seed in range(runs))
    command = [
        sys.executable,
        "-m",
        "litmlp",
        "train",
        "-m",
        f"seed={seeds}",
        "trainer=cpu",
        f"trainer.max_epochs={epochs}",
        "callbacks.rich_progress_bar=null",
        *extra,
    ]
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        subprocess.run(command, cwd=workdir, check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    serial = sweep_seconds(args.runs, args.epochs, [])
    parallel = sweep_seconds(args.runs, args.epochs, ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={args.n_jobs}"])
    results = {
        "runs": args.runs,
        "n_jobs": args.n_jobs,
        "serial_s": serial,
        "parallel_s": parallel,
        "speedup": serial / parallel,
    }
    print(
        f"{args.runs}-run sweep: serial {serial:.1f} s, parallel ({args.n_jobs} jobs) {parallel:.1f} s, "
        f"speed-up {serial / parallel:.2f}x"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
