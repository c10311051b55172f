"""Reading user tables (CSV, Parquet, NumPy .npz) into features and labels, refusing bad data.

Every problem is a `LitmlpError` that names the file, the column and the first offending row (rows are
counted from 1, the header not included), so nothing is ever trained on data that was silently coerced.
Nothing here executes code from the file: .npz files are read with `allow_pickle=False`.
"""

from __future__ import annotations

import csv
import math
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litmlp.errors import LitmlpError

FORMATS = (".csv", ".parquet", ".npz")


@dataclass
class Table:
    features: np.ndarray  # float32 [rows, features]
    labels: list[str] | None  # the target column as text, None when the file has no target
    feature_names: list[str]
    path: Path


def read_table(
    path: str | Path,
    target: str | None,
    features: Sequence[str] | None = None,
    require_target: bool = True,
    encoding: str = "utf-8",
    encoding_option: str = "data.encoding",
) -> Table:
    """Read `path`; its feature columns are `features`, or every column but `target`. `encoding` is a CSV
    file's text encoding; `encoding_option` names the setting that chooses it, for error messages."""
    path = Path(path)
    if not path.is_file():
        raise LitmlpError(f"data file not found: {path}")
    if path.stat().st_size == 0:
        raise LitmlpError(f"{path} is empty")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, target, features, require_target, encoding, encoding_option)
    if suffix == ".parquet":
        return _read_parquet(path, target, features, require_target)
    if suffix == ".npz":
        return _read_npz(path, features, require_target)
    raise LitmlpError(f"{path}: unsupported file type '{suffix}' (use one of {', '.join(FORMATS)})")


def _columns(
    path: Path, header: list[str], target: str | None, features: Sequence[str] | None, require_target: bool
) -> tuple[list[str], str | None]:
    if target is not None and target not in header:
        if require_target:
            raise LitmlpError(f"{path}: target column '{target}' not found (columns: {', '.join(header)})")
        target = None
    names = list(features) if features else [name for name in header if name != target]
    for name in names:
        if name not in header:
            raise LitmlpError(f"{path}: feature column '{name}' not found (columns: {', '.join(header)})")
    if not names:
        raise LitmlpError(f"{path}: no feature columns besides the target '{target}'")
    return names, target


def _number(path: Path, column: str, row: int, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LitmlpError(f"{path}: column '{column}' row {row}: '{text}' is not a number") from None
    if not math.isfinite(value):
        raise LitmlpError(f"{path}: column '{column}' row {row}: {text} is not a finite number")
    return value


def _undecodable_line(path: Path, encoding: str) -> tuple[int, str]:
    """The first line (from 1: the header) that is not `encoding` text, and its first bad byte."""
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError as error:
                return number, line[error.start : error.start + 1].hex()
    return 0, ""


def _unreadable(path: Path, error: Exception, where: str, encoding: str, option: str) -> LitmlpError:
    """One line for a CSV file that is not text in `encoding`, or not CSV."""
    if isinstance(error, UnicodeDecodeError):
        # The reader decodes ahead of the rows it returns: find the line the bad byte is on.
        line, byte = _undecodable_line(path, encoding)
        place = "in the header" if line == 1 else f"on line {line}"
        return LitmlpError(
            f"{path}: not {encoding} text (byte 0x{byte} {place}); if the file has another encoding, "
            f"set it: {option}=latin-1 (or its name)"
        )
    return LitmlpError(f"{path}: not a readable CSV file ({where}: {error})")


def iter_csv_rows(
    path: Path, encoding: str = "utf-8", encoding_option: str = "data.encoding"
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header, and the data rows numbered from 1; a row with the wrong number of fields is an error."""
    with path.open("rb") as raw:
        if b"\0" in raw.read(8192):
            raise LitmlpError(f"{path}: binary content (NUL bytes), not a CSV text file")
    try:
        file = path.open(newline="", encoding=encoding)
    except LookupError:
        raise LitmlpError(f"{encoding_option}={encoding}: unknown text encoding") from None
    reader = csv.reader(file)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as error:
        file.close()
        raise _unreadable(path, error, "in the header", encoding, encoding_option) from None
    if not header:
        file.close()
        raise LitmlpError(f"{path} is empty")
    header = [name.strip() for name in header]

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 0
        with file:
            try:
                for number, row in enumerate(reader, start=1):
                    if not row:
                        continue
                    if len(row) != len(header):
                        raise LitmlpError(
                            f"{path}: row {number} has {len(row)} fields, the header has {len(header)}"
                        )
                    yield number, row
            except (UnicodeDecodeError, csv.Error) as error:
                raise _unreadable(path, error, f"at row {number + 1}", encoding, encoding_option) from None

    return header, rows()


def parse_csv_rows(
    path: Path,
    header: list[str],
    rows: Iterator[tuple[int, list[str]]],
    names: list[str],
    target: str | None,
    limit: int | None = None,
) -> tuple[np.ndarray, list[str] | None]:
    """Up to `limit` rows of `rows` as float32 features and label texts."""
    positions = [header.index(name) for name in names]
    target_position = header.index(target) if target is not None else None
    values: list[list[float]] = []
    labels: list[str] = []
    for number, row in rows:
        values.append([_number(path, names[i], number, row[p].strip()) for i, p in enumerate(positions)])
        if target_position is not None:
            label = row[target_position].strip()
            if not label:
                raise LitmlpError(f"{path}: column '{target}' row {number} is empty")
            labels.append(label)
        if limit is not None and len(values) == limit:
            break
    features = np.asarray(values, dtype=np.float32).reshape(len(values), len(names))
    return features, (labels if target_position is not None else None)


def _read_csv(
    path: Path,
    target: str | None,
    features: Sequence[str] | None,
    require_target: bool,
    encoding: str,
    encoding_option: str,
) -> Table:
    header, rows = iter_csv_rows(path, encoding, encoding_option)
    names, target = _columns(path, header, target, features, require_target)
    values, labels = parse_csv_rows(path, header, rows, names, target)
    if len(values) == 0:
        raise LitmlpError(f"{path} has a header but no rows")
    return Table(values, labels, names, path)


def _first_bad_row(column: np.ndarray) -> int:
    return int(np.flatnonzero(~np.isfinite(column))[0]) + 1


def _read_parquet(
    path: Path, target: str | None, features: Sequence[str] | None, require_target: bool
) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise LitmlpError(f"{path}: reading Parquet needs pyarrow: pip install 'litmlp[parquet]'") from None
    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise LitmlpError(f"{path}: not a readable Parquet file ({error})") from None
    names, target = _columns(path, table.column_names, target, features, require_target)
    if table.num_rows == 0:
        raise LitmlpError(f"{path} has columns but no rows")
    columns = []
    for name in names:
        column = table.column(name)
        if column.null_count:
            row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0]) + 1
            raise LitmlpError(f"{path}: column '{name}' row {row} is empty")
        try:
            values = column.to_numpy().astype(np.float64)
        except (TypeError, ValueError):
            raise LitmlpError(f"{path}: column '{name}' is of type {column.type}, not a number") from None
        if not np.isfinite(values).all():
            raise LitmlpError(f"{path}: column '{name}' row {_first_bad_row(values)} is not a finite number")
        columns.append(values)
    labels = None
    if target is not None:
        label_column = table.column(target)
        if label_column.null_count:
            row = int(np.flatnonzero(label_column.is_null().to_numpy(zero_copy_only=False))[0]) + 1
            raise LitmlpError(f"{path}: column '{target}' row {row} is empty")
        labels = [str(value) for value in label_column.to_pylist()]
    return Table(np.stack(columns, axis=1).astype(np.float32), labels, names, path)


def _read_npz(path: Path, features: Sequence[str] | None, require_target: bool) -> Table:
    try:
        # Arrays are read when first accessed, so the pickle refusal can only surface inside this block.
        with np.load(path, allow_pickle=False) as arrays:
            present = list(arrays)
            values = arrays["x"] if "x" in present else None
            labels_array = arrays["y"] if "y" in present else None
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise LitmlpError(f"{path}: not a readable .npz file ({error})") from None
    if values is None:
        raise LitmlpError(f"{path}: no array 'x' (features) in the .npz file (arrays: {', '.join(present)})")
    if labels_array is None and require_target:
        raise LitmlpError(f"{path}: no array 'y' (labels) in the .npz file (arrays: {', '.join(present)})")
    if values.ndim != 2 or len(values) == 0:
        raise LitmlpError(f"{path}: 'x' must be a non-empty 2-D array, got shape {values.shape}")
    if not np.issubdtype(values.dtype, np.number):
        raise LitmlpError(f"{path}: 'x' holds {values.dtype} values, not numbers")
    names = list(features) if features else [f"x{i}" for i in range(values.shape[1])]
    if len(names) != values.shape[1]:
        raise LitmlpError(f"{path}: {len(names)} feature names for {values.shape[1]} columns of 'x'")
    bad = ~np.isfinite(values)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise LitmlpError(f"{path}: column '{names[column]}' row {row + 1} is not a finite number")
    labels = None
    if labels_array is not None:
        if labels_array.shape != (len(values),):
            raise LitmlpError(f"{path}: 'y' has shape {labels_array.shape}, expected ({len(values)},)")
        labels = [str(value) for value in labels_array.tolist()]
    return Table(values.astype(np.float32), labels, names, path)


def class_names(labels: Sequence[str]) -> list[str]:
    """The sorted distinct labels: numerically when every label is a number, else as text."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)
