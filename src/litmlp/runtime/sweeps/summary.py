"""The summary of a sweep directory: one row per run, as CSV, Markdown and a PNG plot.

It is read from what the runs left on disk (`.hydra/overrides.yaml`, `metrics.json`, `error.txt`), so
it can be rebuilt at any time: while the sweep runs, after it ends, after a crash. Runs are ranked by the
best value of the metric their checkpoint callback monitored (`best_score` in `metrics.json`), or by
`rank_by` (any metric in `metrics.json`, e.g. `test/acc`).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from litmlp.errors import LitmlpError
from litmlp.files import replacing
from litmlp.layout import ERROR_FILE, METRICS_FILE, OVERRIDES_FILE, PRUNED_FILE

STATUSES = ("ok", "pruned", "failed", "unfinished")
# Overrides an Optuna search adds to reach its trial: bookkeeping, not parameters.
BOOKKEEPING = ("callbacks.optuna_pruning.", "optuna.")


@dataclass
class RunRow:
    run_dir: Path
    overrides: dict[str, str]
    status: str  # one of STATUSES: "pruned" by a search, "unfinished" while running or when killed
    score: float | None = None  # what the runs are ranked by
    ranked_by: str = ""
    test: dict[str, float] = field(default_factory=dict)
    wall_time_s: float | None = None
    error: str = ""


def _job_dirs(sweep_dir: Path) -> list[Path]:
    jobs = [path for path in sweep_dir.iterdir() if (path / OVERRIDES_FILE).is_file()]
    return sorted(jobs, key=lambda path: (len(path.name), path.name))


def _score(metrics: dict[str, Any], rank_by: str | None) -> tuple[float | None, str, bool]:
    """(value, its name, higher is better) of what a finished run is ranked by."""
    if rank_by is None:
        score = metrics.get("best_score")
        return score, f"best {metrics.get('monitor')}", metrics.get("best_mode", "max") == "max"
    stage = rank_by.split("/", 1)[0]
    value = metrics.get(stage, {}).get(rank_by) if isinstance(metrics.get(stage), dict) else None
    return (value if value is not None else metrics.get(rank_by)), rank_by, "loss" not in rank_by


def read_run(run_dir: Path, rank_by: str | None = None) -> RunRow:
    overrides = yaml.safe_load((run_dir / OVERRIDES_FILE).read_text()) or []
    pairs = dict(str(item).lstrip("+~").split("=", 1) for item in overrides if "=" in str(item))
    # How an Optuna search reaches its trial (storage, study, trial id) is bookkeeping, not a parameter.
    pairs = {key: value for key, value in pairs.items() if not key.startswith(BOOKKEEPING)}
    metrics_path, error_path = run_dir / METRICS_FILE, run_dir / ERROR_FILE
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        score, name, higher = _score(metrics, rank_by)
        if score is not None and not higher:
            score = -score
        return RunRow(run_dir, pairs, "ok", score, name, metrics.get("test", {}), metrics.get("wall_time_s"))
    if error_path.is_file():
        return RunRow(run_dir, pairs, "failed", error=error_path.read_text().strip())
    if (run_dir / PRUNED_FILE).is_file():
        return RunRow(run_dir, pairs, "pruned", error=(run_dir / PRUNED_FILE).read_text().strip())
    return RunRow(run_dir, pairs, "unfinished")


def collect(sweep_dir: Path, rank_by: str | None = None, runs: list[Path] | None = None) -> list[RunRow]:
    """The rows of `sweep_dir`'s runs, or of `runs` (run directories anywhere) when given."""
    if runs is None and not sweep_dir.is_dir():
        raise LitmlpError(f"sweep directory not found: {sweep_dir}")
    rows = [read_run(job, rank_by) for job in (_job_dirs(sweep_dir) if runs is None else runs)]
    if not rows:
        raise LitmlpError(f"{sweep_dir} holds no runs (no */.hydra/overrides.yaml)")
    # Best first; runs without a result after all that have one.
    return sorted(rows, key=lambda row: -row.score if row.score is not None else math.inf)


def _ranked_by(rows: list[RunRow]) -> str:
    return next((row.ranked_by for row in rows if row.ranked_by), "best score")


def _shown(row: RunRow) -> float | None:
    """The score as the run reported it (a loss is ranked by its negative)."""
    if row.score is None:
        return None
    return -row.score if "loss" in row.ranked_by else row.score


def _columns(rows: list[RunRow]) -> tuple[list[str], list[str]]:
    swept = sorted({key for row in rows for key in row.overrides})
    tests = sorted({key for row in rows for key in row.test})
    return swept, tests


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _records(rows: list[RunRow]) -> tuple[list[str], list[list[str]]]:
    swept, tests = _columns(rows)
    header = [*swept, "status", _ranked_by(rows), *tests, "wall_time_s", "run_dir", "error"]
    records = [
        [
            *(row.overrides.get(key, "") for key in swept),
            row.status,
            _fmt(_shown(row)),
            *(_fmt(row.test.get(key)) for key in tests),
            "" if row.wall_time_s is None else f"{row.wall_time_s:.1f}",
            str(row.run_dir),
            row.error,
        ]
        for row in rows
    ]
    return header, records


def write_summary(
    sweep_dir: Path, plot: bool = True, rank_by: str | None = None, runs: list[Path] | None = None
) -> list[RunRow]:
    """(Re)write summary.csv, summary.md and (with `plot`) summary.png in `sweep_dir`, of its runs or of
    `runs`; rows best first."""
    rows = collect(sweep_dir, rank_by, runs)
    header, records = _records(rows)
    # Runs of a parallel sweep finish in several processes at once: each file is replaced atomically.
    with replacing(sweep_dir / "summary.csv") as partial, partial.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(records)
    # A cell is one line of the table: a value holding a newline (a quoted override) is shown on one line.
    escape = lambda text: " ".join(text.splitlines()).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(cell) for cell in record) + " |" for record in records]
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    counted = ", ".join(
        f"{count} {status}" for status, count in counts.items() if count or status != "pruned"
    )
    lines += ["", f"{len(rows)} runs: {counted}; ranked by {_ranked_by(rows)}."]
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


def axis_kind(key: str, values: list[str]) -> str:
    """How a swept parameter is drawn: "categorical" for a seed (its number means nothing) and for choices
    that are not all numbers, "log" for positive numbers spanning a decade or more (a learning rate),
    else "linear"."""
    numbers = [_as_number(value) for value in values]
    if key.rsplit(".", 1)[-1].endswith("seed") or not values or any(n is None for n in numbers):
        return "categorical"
    positive = [n for n in numbers if n is not None and n > 0]
    if len(positive) == len(numbers) and max(positive) / min(positive) >= 10:
        return "log"
    return "linear"


def _plot(rows: list[RunRow], path: Path) -> None:
    """The ranked metric against each swept parameter, one panel per parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys, _ = _columns(rows)
    swept = [key for key in keys if len({row.overrides.get(key) for row in rows}) > 1]
    done = [row for row in rows if row.score is not None]
    figure, axes = plt.subplots(1, max(len(swept), 1), figsize=(4 * max(len(swept), 1), 3.2), squeeze=False)
    for axis, key in zip(axes[0], swept or [""], strict=True):
        values = [row.overrides.get(key, "") for row in done]
        kind = axis_kind(key, values)
        if kind == "categorical":
            numbers = [_as_number(value) for value in values]
            by_number = all(number is not None for number in numbers)
            labels = sorted(set(values), key=lambda v: (_as_number(v) or 0.0, v) if by_number else (0.0, v))
            axis.scatter([labels.index(value) for value in values], [_shown(row) for row in done])
            axis.set_xticks(range(len(labels)), labels, rotation=30)
        else:
            axis.scatter([float(value) for value in values], [_shown(row) for row in done])
            axis.set_xscale(kind)
        axis.set_xlabel(key or "run")
        axis.set_ylabel(_ranked_by(rows))
        axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def summary_line(rows: list[RunRow], sweep_dir: Path) -> str:
    failed = [row for row in rows if row.status == "failed"]
    pruned = [row for row in rows if row.status == "pruned"]
    best = next((row for row in rows if row.score is not None), None)
    text = f"{len(rows)} runs, {len(failed)} failed" + (f", {len(pruned)} pruned" if pruned else "")
    if best is not None:
        chosen = " ".join(f"{k}={v}" for k, v in sorted(best.overrides.items()))
        text += f"; best {best.ranked_by.removeprefix('best ')} {_shown(best):.6f} ({chosen})"
    return f"{text}; summary in {sweep_dir / 'summary.md'}"


def study_runs(multiruns_dir: Path, study_name: str, storage: str) -> list[Path]:
    """The run directories of an Optuna study, from every search that worked on it (each invocation has
    a sweep directory of its own under `multiruns_dir`): its runs name the study and storage."""
    wanted = {f"study_name={study_name}", f"storage={storage}"}
    found = []
    for sweep_dir in sorted(path for path in multiruns_dir.iterdir() if path.is_dir()):
        for job in _job_dirs(sweep_dir):
            overrides = yaml.safe_load((job / OVERRIDES_FILE).read_text()) or []
            named = {
                str(item).split("callbacks.optuna_pruning.", 1)[1].replace("'", "")
                for item in overrides
                if "callbacks.optuna_pruning." in str(item)
            }
            if wanted <= named:
                found.append(job)
    return found
