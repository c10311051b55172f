"""The summary of a sweep directory: one row per run, as CSV, Markdown and a PNG plot.

It is read from what the runs left on disk (`.hydra/overrides.yaml`, `metrics.json`, `error.txt`), so
it can be rebuilt at any time: while the sweep runs, after it ends, after a crash.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from litmlp.atomic_file import replacing
from litmlp.errors import LitmlpError

# The metric runs are ranked by; higher is better.
RANK_BY = "val_acc_best"
STATUSES = ("ok", "pruned", "failed", "unfinished")
ERROR_FILE = "error.txt"


@dataclass
class RunRow:
    run_dir: Path
    overrides: dict[str, str]
    status: str  # one of STATUSES: "pruned" by a search, "unfinished" while running or when killed
    val_acc_best: float | None = None
    test: dict[str, float] = field(default_factory=dict)
    wall_time_s: float | None = None
    error: str = ""


def _job_dirs(sweep_dir: Path) -> list[Path]:
    jobs = [path for path in sweep_dir.iterdir() if (path / ".hydra" / "overrides.yaml").is_file()]
    return sorted(jobs, key=lambda path: (len(path.name), path.name))


def read_run(run_dir: Path) -> RunRow:
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    pairs = dict(str(item).lstrip("+~").split("=", 1) for item in overrides if "=" in str(item))
    # How an Optuna search reaches its trial (storage, study, trial id) is bookkeeping, not a parameter.
    pairs = {key: value for key, value in pairs.items() if not key.startswith("optuna.")}
    metrics_path, error_path = run_dir / "metrics.json", run_dir / ERROR_FILE
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        return RunRow(
            run_dir, pairs, "ok", metrics.get(RANK_BY), metrics.get("test", {}), metrics.get("wall_time_s")
        )
    if error_path.is_file():
        return RunRow(run_dir, pairs, "failed", error=error_path.read_text().strip())
    if (run_dir / "pruned.txt").is_file():
        return RunRow(run_dir, pairs, "pruned", error=(run_dir / "pruned.txt").read_text().strip())
    return RunRow(run_dir, pairs, "unfinished")


def collect(sweep_dir: Path) -> list[RunRow]:
    if not sweep_dir.is_dir():
        raise LitmlpError(f"sweep directory not found: {sweep_dir}")
    rows = [read_run(job) for job in _job_dirs(sweep_dir)]
    if not rows:
        raise LitmlpError(f"{sweep_dir} holds no runs (no */.hydra/overrides.yaml)")
    # Best first; runs without a result after all that have one.
    return sorted(rows, key=lambda row: -row.val_acc_best if row.val_acc_best is not None else math.inf)


def _columns(rows: list[RunRow]) -> tuple[list[str], list[str]]:
    swept = sorted({key for row in rows for key in row.overrides})
    tests = sorted({key for row in rows for key in row.test})
    return swept, tests


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _records(rows: list[RunRow]) -> tuple[list[str], list[list[str]]]:
    swept, tests = _columns(rows)
    header = [*swept, "status", RANK_BY, *tests, "wall_time_s", "run_dir", "error"]
    records = [
        [
            *(row.overrides.get(key, "") for key in swept),
            row.status,
            _fmt(row.val_acc_best),
            *(_fmt(row.test.get(key)) for key in tests),
            "" if row.wall_time_s is None else f"{row.wall_time_s:.1f}",
            str(row.run_dir),
            row.error,
        ]
        for row in rows
    ]
    return header, records


def write_summary(sweep_dir: Path, plot: bool = True) -> list[RunRow]:
    """(Re)write summary.csv, summary.md and (with `plot`) summary.png in `sweep_dir`; rows best first."""
    rows = collect(sweep_dir)
    header, records = _records(rows)
    # Runs of a parallel sweep finish in several processes at once: each file is replaced atomically.
    with replacing(sweep_dir / "summary.csv") as partial, partial.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(records)
    escape = lambda text: text.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(cell) for cell in record) + " |" for record in records]
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    counted = ", ".join(
        f"{count} {status}" for status, count in counts.items() if count or status != "pruned"
    )
    lines += ["", f"{len(rows)} runs: {counted}; ranked by {RANK_BY}."]
    with replacing(sweep_dir / "summary.md") as partial:
        partial.write_text("\n".join(lines) + "\n")
    if plot:
        with replacing(sweep_dir / "summary.png") as partial:
            _plot(rows, partial)
    return rows


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _plot(rows: list[RunRow], path: Path) -> None:
    """The ranked metric against each swept parameter, one panel per parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys, _ = _columns(rows)
    swept = [key for key in keys if len({row.overrides.get(key) for row in rows}) > 1]
    done = [row for row in rows if row.val_acc_best is not None]
    figure, axes = plt.subplots(1, max(len(swept), 1), figsize=(4 * max(len(swept), 1), 3.2), squeeze=False)
    for axis, key in zip(axes[0], swept or [""], strict=True):
        values = [row.overrides.get(key, "") for row in done]
        numbers = [number for number in map(_as_number, values) if number is not None]
        if numbers and len(numbers) == len(values):
            axis.scatter(numbers, [row.val_acc_best for row in done])
            if min(numbers) > 0 and max(numbers) / min(numbers) >= 100:
                axis.set_xscale("log")
        else:
            labels = sorted(set(values))
            axis.scatter([labels.index(value) for value in values], [row.val_acc_best for row in done])
            axis.set_xticks(range(len(labels)), labels, rotation=30)
        axis.set_xlabel(key or "run")
        axis.set_ylabel(RANK_BY)
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def summary_line(rows: list[RunRow], sweep_dir: Path) -> str:
    failed = [row for row in rows if row.status == "failed"]
    best = next((row for row in rows if row.val_acc_best is not None), None)
    text = f"{len(rows)} runs, {len(failed)} failed"
    if best is not None:
        chosen = " ".join(f"{k}={v}" for k, v in sorted(best.overrides.items()))
        text += f"; best {RANK_BY} {best.val_acc_best:.6f} ({chosen})"
    return f"{text}; summary in {sweep_dir / 'summary.md'}"
