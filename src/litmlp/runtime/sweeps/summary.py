"""The summary of a sweep directory: one row per run, as CSV, Markdown and a PNG plot.

It is read from what the runs left on disk (`.hydra/overrides.yaml`, `metrics.json`, `error.txt`), so
it can be rebuilt at any time: while the sweep runs, after it ends, after a crash. Runs are ranked by the
best value of the metric their checkpoint callback monitored (`best_score` in `metrics.json`), or by
`rank_by` (any metric in `metrics.json`, e.g. `test/acc`).

Runs that differ only in `seed` or `data.fold` (REPEATS) repeat one setting: when a sweep has such
repeats, each setting also gets a row with the mean, standard deviation and count of every metric over
its finished runs, ranked by the mean (`summary_settings.csv`, the first table of `summary.md`), and the
plot shows the means with error bars.
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
from litmlp.layout import ERROR_FILE, METRICS_FILE, NOT_SETTINGS, OVERRIDES_FILE, PRUNED_FILE

STATUSES = ("ok", "pruned", "failed", "unfinished")
# Overrides that repeat a setting rather than change it: its runs are aggregated.
REPEATS = ("seed", "data.fold")


@dataclass
class RunRow:
    run_dir: Path
    overrides: dict[str, str]
    status: str  # one of STATUSES: "pruned" by a search, "unfinished" while running or when killed
    score: float | None = None  # what the runs are ranked by
    ranked_by: str = ""
    wall_time_s: float | None = None
    error: str = ""
    metrics: dict[str, float] = field(default_factory=dict)  # every stage's final metrics (val/*, test/*)

    @property
    def test(self) -> dict[str, float]:
        return {key: value for key, value in self.metrics.items() if key.startswith("test/")}

    @property
    def setting(self) -> tuple[tuple[str, str], ...]:
        """The overrides without those that repeat a setting (seed, fold)."""
        return tuple(sorted((key, value) for key, value in self.overrides.items() if key not in REPEATS))


@dataclass
class SettingRow:
    """One setting's runs: the mean, standard deviation and count of each metric over the finished ones."""

    overrides: dict[str, str]
    runs: list[RunRow]
    stats: dict[str, tuple[float, float | None, int]]  # metric -> (mean, std or None for one run, n)

    @property
    def score(self) -> float | None:
        scores = [row.score for row in self.runs if row.score is not None]
        return sum(scores) / len(scores) if scores else None


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
    pairs = {key: value for key, value in pairs.items() if not key.startswith(NOT_SETTINGS)}
    metrics_path, error_path = run_dir / METRICS_FILE, run_dir / ERROR_FILE
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
        score, name, higher = _score(metrics, rank_by)
        if score is not None and not higher:
            score = -score
        stages = {
            key: value for stage in ("val", "test") for key, value in (metrics.get(stage) or {}).items()
        }
        return RunRow(run_dir, pairs, "ok", score, name, metrics.get("wall_time_s"), metrics=stages)
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


def settings(rows: list[RunRow]) -> list[SettingRow]:
    """The sweep's settings, best mean first, when some setting was run more than once (several seeds or
    folds); else none."""
    groups: dict[tuple[tuple[str, str], ...], list[RunRow]] = {}
    for row in rows:
        groups.setdefault(row.setting, []).append(row)
    if all(len(runs) == 1 for runs in groups.values()):
        return []
    ranked_by = _ranked_by(rows)
    found = []
    for setting, runs in groups.items():
        values: dict[str, list[float]] = {ranked_by: [v for row in runs if (v := _shown(row)) is not None]}
        for row in runs:
            for key, value in row.metrics.items():
                if key != ranked_by:  # ranking by a metric itself (rank_by=test/acc): counted once
                    values.setdefault(key, []).append(float(value))
        stats = {key: _mean_std(numbers) for key, numbers in values.items() if numbers}
        found.append(SettingRow(dict(setting), runs, stats))
    return sorted(found, key=lambda group: -group.score if group.score is not None else math.inf)


def _mean_std(numbers: list[float]) -> tuple[float, float | None, int]:
    """Mean, sample standard deviation (None for a single value) and count."""
    mean = sum(numbers) / len(numbers)
    if len(numbers) < 2:
        return mean, None, len(numbers)
    return mean, math.sqrt(sum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1)), len(numbers)


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


def _setting_records(
    groups: list[SettingRow], rows: list[RunRow], joined: bool
) -> tuple[list[str], list[list[str]]]:
    """The settings table: each setting's overrides, its runs (finished of all) and repeats, then the mean
    and std of the ranked metric and of every other metric: two columns each, or one `mean ± std` cell
    each when `joined` (the Markdown table)."""
    swept = sorted({key for group in groups for key in group.overrides})
    ranked_by = _ranked_by(rows)
    metrics = [ranked_by, *sorted({key for group in groups for key in group.stats} - {ranked_by})]
    parts = ("",) if joined else (" mean", " std")
    header = [*swept, "runs", "repeats", *(metric + part for metric in metrics for part in parts)]
    records = []
    for group in groups:
        repeats = sorted(
            {f"{key}={row.overrides[key]}" for row in group.runs for key in REPEATS if key in row.overrides}
        )
        done = sum(row.status == "ok" for row in group.runs)
        cells = [
            *(group.overrides.get(key, "") for key in swept),
            f"{done}/{len(group.runs)}",
            " ".join(repeats),
        ]
        for metric in metrics:
            mean, std, _ = group.stats.get(metric, (None, None, 0))
            if joined:
                cells.append(_fmt(mean) + (f" ± {std:.6f}" if std is not None else ""))
            else:
                cells += [_fmt(mean), _fmt(std)]
        records.append(cells)
    return header, records


def _markdown(header: list[str], records: list[list[str]]) -> list[str]:
    # A cell is one line of the table: a value holding a newline (a quoted override) is shown on one line.
    escape = lambda text: " ".join(text.splitlines()).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(escape(cell) for cell in record) + " |" for record in records]


def _write_csv(path: Path, header: list[str], records: list[list[str]]) -> None:
    # Runs of a parallel sweep finish in several processes at once: each file is replaced atomically.
    with replacing(path) as partial, partial.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(records)


def write_summary(
    sweep_dir: Path, plot: bool = True, rank_by: str | None = None, runs: list[Path] | None = None
) -> list[RunRow]:
    """(Re)write summary.csv, summary.md and (with `plot`) summary.png in `sweep_dir`, of its runs or of
    `runs`; rows best first."""
    rows = collect(sweep_dir, rank_by, runs)
    groups = settings(rows)
    header, records = _records(rows)
    _write_csv(sweep_dir / "summary.csv", header, records)
    lines: list[str] = []
    if groups:
        _write_csv(sweep_dir / "summary_settings.csv", *_setting_records(groups, rows, joined=False))
        repeated = " and ".join(key for key in REPEATS if any(key in row.overrides for row in rows))
        title = f"{len(groups)} setting{'s' if len(groups) > 1 else ''} " + (
            f"over {repeated}" if repeated else "run more than once"
        )
        lines += [f"## {title} (mean ± std of the finished runs)", ""]
        lines += [*_markdown(*_setting_records(groups, rows, joined=True)), "", "## Runs", ""]
    lines += _markdown(header, records)
    counts = {status: sum(row.status == status for row in rows) for status in STATUSES}
    counted = ", ".join(
        f"{count} {status}" for status, count in counts.items() if count or status != "pruned"
    )
    lines += ["", f"{len(rows)} runs: {counted}; ranked by {_ranked_by(rows)}."]
    with replacing(sweep_dir / "summary.md") as partial:
        partial.write_text("\n".join(lines) + "\n")
    if plot:
        with replacing(sweep_dir / "summary.png") as partial:
            _plot(rows, groups, partial)
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


def _plot(rows: list[RunRow], groups: list[SettingRow], path: Path) -> None:
    """The ranked metric against each swept parameter, one panel per parameter: each run, or each
    setting's mean with its standard deviation as an error bar when settings were repeated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranked_by = _ranked_by(rows)
    # (overrides, value, error bar) per point
    points = [
        (group.overrides, group.stats[ranked_by][0], group.stats[ranked_by][1] or 0.0)
        for group in groups
        if ranked_by in group.stats
    ]
    keys = sorted({key for overrides, _, _ in points for key in overrides})
    swept = [key for key in keys if len({overrides.get(key) for overrides, _, _ in points}) > 1]
    if not swept:  # no repeats, or only repeats (seeds of one setting): each run
        points = [(row.overrides, value, 0.0) for row in rows if (value := _shown(row)) is not None]
        keys = sorted({key for overrides, _, _ in points for key in overrides})
        swept = [key for key in keys if len({overrides.get(key) for overrides, _, _ in points}) > 1]
    figure, axes = plt.subplots(1, max(len(swept), 1), figsize=(4 * max(len(swept), 1), 3.2), squeeze=False)
    for axis, key in zip(axes[0], swept or [""], strict=True):
        values = [overrides.get(key, "") for overrides, _, _ in points]
        kind = axis_kind(key, values)
        if kind == "categorical":
            numbers = [_as_number(value) for value in values]
            by_number = all(number is not None for number in numbers)
            labels = sorted(set(values), key=lambda v: (_as_number(v) or 0.0, v) if by_number else (0.0, v))
            xs = [float(labels.index(value)) for value in values]
            axis.set_xticks(range(len(labels)), labels, rotation=30)
        else:
            xs = [float(value) for value in values]
            axis.set_xscale(kind)
        errors = [error for _, _, error in points]
        axis.errorbar(xs, [y for _, y, _ in points], yerr=errors if any(errors) else None, fmt="o", capsize=3)
        axis.set_xlabel(key or "run")
        axis.set_ylabel(ranked_by + (" (mean ± std)" if groups and any(errors) else ""))
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
    groups = settings(rows)
    if groups and best is not None:
        mean, std, n = groups[0].stats[_ranked_by(rows)]
        spread = f" ± {std:.6f}" if std is not None else ""
        chosen = " ".join(f"{k}={v}" for k, v in sorted(groups[0].overrides.items())) or "the only setting"
        text += f"; best setting {mean:.6f}{spread} over {n} runs ({chosen})"
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
