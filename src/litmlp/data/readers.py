"""Reading user tables (CSV, Parquet, NumPy .npz) into raw cells and labels, refusing bad data.

The cells are numbers, texts (categories) or missing; `litmlp.data.columns` turns them into features.
Every problem is a `LitmlpError` that names the file, the column and the first offending row (rows are
counted from 1, the header not included), so nothing is ever trained on data that was silently coerced.
Rows without a target value are left out, with their count in the log.
Nothing here executes code from the file: .npz files are read with `allow_pickle=False`.
"""

from __future__ import annotations

import codecs
import csv
import logging
import math
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from litmlp.data.columns import MISSING_TEXT, Cells, category_text
from litmlp.errors import LitmlpError

log = logging.getLogger(__name__)

FORMATS = (".csv", ".parquet", ".npz")


@dataclass
class Table:
    """A table's feature columns as raw cells (encoded later: `litmlp.data.columns`) and its labels."""

    cells: dict[str, Cells]  # feature columns, in order
    labels: list[str] | None  # the target column as text, None when the file has no target
    path: Path
    rows: np.ndarray  # each row's number in the file (from 1, the header not counted)

    @property
    def feature_names(self) -> list[str]:
        return list(self.cells)

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, rows: np.ndarray) -> Table:
        """The table's rows at these positions."""
        return Table(
            {name: cells.take(rows) for name, cells in self.cells.items()},
            None if self.labels is None else [self.labels[i] for i in rows.tolist()],
            self.path,
            self.rows[rows],
        )


def label_text(value: str) -> str:
    """A class label as text: a number is one label however it is written (`1`, `1.0`, `01` are `1`)."""
    return category_text(value.strip())


def _drop_missing_targets(table: Table, target: str | None) -> Table:
    """Rows without a target value teach nothing: they are left out, and the log says how many."""
    if table.labels is None:
        return table
    keep = np.array([label not in MISSING_TEXT for label in table.labels], dtype=bool)
    if keep.all():
        return table
    dropped = int((~keep).sum())
    if not keep.any():
        raise LitmlpError(f"{table.path}: column '{target}' has no values (all {dropped} rows are empty)")
    log.warning(
        "%s: %d row(s) without a '%s' value left out (first: row %d)",
        table.path,
        dropped,
        target,
        table.rows[~keep][0],
    )
    return table.take(np.flatnonzero(keep))


def read_table(
    path: str | Path,
    target: str | None,
    features: Sequence[str] | None = None,
    require_target: bool = True,
    encoding: str = "utf-8",
    encoding_option: str = "data.encoding",
    keep_unlabelled: bool = False,
) -> Table:
    """Read `path`; its feature columns are `features`, or every column but `target`. `encoding` is a CSV
    file's text encoding; `encoding_option` names the setting that chooses it, for error messages. Rows
    without a target value are left out unless `keep_unlabelled` (prediction)."""
    path = Path(path)
    if not path.is_file():
        raise LitmlpError(f"data file not found: {path}")
    if path.stat().st_size == 0:
        raise LitmlpError(f"{path} is empty")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = _read_csv(path, target, features, require_target, encoding, encoding_option)
    elif suffix == ".parquet":
        table = _read_parquet(path, target, features, require_target)
    elif suffix == ".npz":
        table = _read_npz(path, features, require_target)
    else:
        raise LitmlpError(f"{path}: unsupported file type '{suffix}' (use one of {', '.join(FORMATS)})")
    return table if keep_unlabelled else _drop_missing_targets(table, target)


def _columns(
    path: Path, header: list[str], target: str | None, features: Sequence[str] | None, require_target: bool
) -> tuple[list[str], str | None]:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if name in seen:
            raise LitmlpError(
                f"{path}: column name '{name}' appears twice in the header (columns {seen[name]} and "
                f"{position}); rename one"
            )
        seen[name] = position
    if target is not None and features and target in features:
        raise LitmlpError(f"{path}: column '{target}' is the target and cannot also be a feature")
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


# Byte-order marks that name a file's encoding (UTF-32 first: its little-endian mark starts like UTF-16's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _text_encoding(path: Path, encoding: str, encoding_option: str) -> str:
    """The encoding to read `path` with: a UTF-16/32 byte-order mark names it (Excel's "Unicode text");
    otherwise `encoding`, refusing a file that is not text (NUL bytes) in it."""
    with path.open("rb") as raw:
        head = raw.read(8192)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    try:
        wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
    except LookupError:
        raise LitmlpError(f"{encoding_option}={encoding}: unknown text encoding") from None
    if b"\0" in head and not wide:
        raise LitmlpError(
            f"{path}: binary content (NUL bytes), not a CSV text file (for UTF-16 text without a "
            f"byte-order mark, set {encoding_option}=utf-16-le or utf-16-be)"
        )
    # A UTF-8 file may start with a byte-order mark (Excel writes one): it is not part of the first name.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


@contextmanager
def open_csv(
    path: Path, encoding: str = "utf-8", encoding_option: str = "data.encoding"
) -> Iterator[tuple[list[str], Iterator[tuple[int, list[str]]]]]:
    """The header, and the data rows numbered from 1 (a row with the wrong number of fields is an error);
    the file is closed when the block ends, however it ends."""
    reading = _text_encoding(path, encoding, encoding_option)
    if reading in ("utf-16", "utf-32"):  # named by the file's byte-order mark
        encoding = reading
    with path.open(newline="", encoding=reading) as file:
        reader = csv.reader(file)
        try:
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as error:
            raise _unreadable(path, error, "in the header", encoding, encoding_option) from None
        if not header:
            raise LitmlpError(f"{path} is empty")
        header = [name.strip() for name in header]

        def rows() -> Iterator[tuple[int, list[str]]]:
            number = 0
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

        yield header, rows()


def _column_cells(texts: list[str]) -> Cells:
    """One column's texts: numbers when every cell is one (a fast path for big numeric tables)."""
    if not any("_" in text for text in texts):
        try:
            return Cells(numbers=np.asarray(texts, dtype=np.float64))
        except ValueError:
            pass
    return Cells.from_texts(texts)


def parse_csv_rows(
    path: Path,
    header: list[str],
    rows: Iterator[tuple[int, list[str]]],
    names: list[str],
    target: str | None,
    limit: int | None = None,
) -> Table:
    """Up to `limit` rows of `rows`: the `names` columns as cells, the `target` column as label texts."""
    positions = [header.index(name) for name in names]
    target_position = header.index(target) if target is not None else None
    columns: list[list[str]] = [[] for _ in names]
    labels: list[str] = []
    numbers: list[int] = []
    for number, row in rows:
        for column, position in zip(columns, positions, strict=True):
            column.append(row[position])
        if target_position is not None:
            labels.append(label_text(row[target_position]))
        numbers.append(number)
        if limit is not None and len(numbers) == limit:
            break
    cells = {name: _column_cells(column) for name, column in zip(names, columns, strict=True)}
    return Table(
        cells, labels if target_position is not None else None, path, np.asarray(numbers, dtype=np.int64)
    )


def _read_csv(
    path: Path,
    target: str | None,
    features: Sequence[str] | None,
    require_target: bool,
    encoding: str,
    encoding_option: str,
) -> Table:
    with open_csv(path, encoding, encoding_option) as (header, rows):
        names, target = _columns(path, header, target, features, require_target)
        table = parse_csv_rows(path, header, rows, names, target)
    if len(table) == 0:
        raise LitmlpError(f"{path} has a header but no rows")
    return table


def _parquet_cells(path: Path, name: str, column: Any) -> Cells:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return Cells(
            texts=[None if v is None or v.strip() in MISSING_TEXT else v.strip() for v in column.to_pylist()]
        )
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind):
        values = pc.fill_null(column.cast(pa.float64()), float("nan"))
        return Cells(numbers=values.to_numpy())
    raise LitmlpError(f"{path}: column '{name}' is of type {kind}, not a number or text")


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
    cells = {name: _parquet_cells(path, name, table.column(name)) for name in names}
    labels = None
    if target is not None:
        labels = [
            "" if value is None else label_text(str(value)) for value in table.column(target).to_pylist()
        ]
    return Table(cells, labels, path, np.arange(1, table.num_rows + 1))


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
    if not np.issubdtype(values.dtype, np.number) or np.iscomplexobj(values):
        raise LitmlpError(f"{path}: 'x' holds {values.dtype} values, not real numbers")
    names = list(features) if features else [f"x{i}" for i in range(values.shape[1])]
    if len(names) != values.shape[1]:
        raise LitmlpError(f"{path}: {len(names)} feature names for {values.shape[1]} columns of 'x'")
    labels = None
    if labels_array is not None:
        if labels_array.shape != (len(values),):
            raise LitmlpError(f"{path}: 'y' has shape {labels_array.shape}, expected ({len(values)},)")
        labels = ["" if _is_nan(value) else label_text(str(value)) for value in labels_array.tolist()]
    columns = values.astype(np.float64)
    cells = {name: Cells(numbers=columns[:, i]) for i, name in enumerate(names)}
    return Table(cells, labels, path, np.arange(1, len(values) + 1))


def _is_nan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def class_names(labels: Sequence[str]) -> list[str]:
    """The sorted distinct labels: numerically when every label is a number, else as text."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)
