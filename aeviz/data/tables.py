"""CSV uploads: numeric feature columns plus an optional label column.

The header is optional (detected), the delimiter is ',' ';' or tab (the most
frequent in the first line), and the label column is one named label / labels /
y / class / target, else a last column holding text. Rows are converted one at
a time (a 200 MB CSV never becomes a list of Python strings). Errors name the
line and column at fault.
"""
from __future__ import annotations

import csv
import io
import itertools
from typing import Iterator

import numpy as np

from aeviz.core.errors import DataError

LABEL_COLUMNS = ("label", "labels", "y", "class", "target")
DELIMITERS = (",", ";", "\t")
Row = tuple[int, list[str]]   # (line number in the file, cells)
MAX_CSV_VALUES = 20_000_000   # parsed cells; checked while reading, so a huge file stops early


def parse_csv(data: bytes, where: str, max_items: int) -> tuple[np.ndarray, np.ndarray | None,
                                                                     list[str]]:
    """-> x float64 (N, D), labels (N,) as float or str (or None), notes for the description."""
    rows = _rows(data, where)
    head = list(itertools.islice(rows, 2))
    if not head:
        raise DataError(f"{where}: empty file (no rows)")
    header = head[0][1] if _is_header(head) else None
    width = len(head[0][1])
    named = _named_label(header)
    # without a named label column the last column is kept as text until we know
    # whether it is labels (some cell is not a number) or one more feature
    label_col = named if named is not None else width - 1
    features = [j for j in range(width) if j != label_col]
    x_rows, labels, n = [], [], 0
    for line, cells in itertools.chain(head[1:] if header else head, rows):
        if len(cells) != width:
            raise DataError(f"{where}: line {line} has {len(cells)} cells, expected {width} like "
                            f"the {'header' if header else 'first row'} (ragged rows)")
        n += 1
        if n > max_items:
            raise DataError(f"{where}: more than {max_items:,} data rows (the limit)")
        if n * width > MAX_CSV_VALUES:
            raise DataError(f"{where}: more than {MAX_CSV_VALUES:,} values ({width} columns x "
                            f"{n:,}+ rows), the limit for CSV uploads; save the data as .npy or "
                            "upload fewer rows")
        x_rows.append(_numbers(line, cells, features, header, where))
        labels.append(cells[label_col].strip())
    if not n:
        raise DataError(f"{where}: no data rows after the header")
    x = np.stack(x_rows) if features else np.zeros((n, 0))
    y = _as_numbers(labels)
    if named is None and y is not None:           # the last column was a feature after all
        x, y, label_col = np.column_stack([x, y]), None, None
    if x.shape[1] == 0:
        raise DataError(f"{where}: no feature columns besides the label column")
    notes = [f"CSV {where} ({'with' if header else 'no'} header)"]
    if label_col is not None:
        empty = next((i for i, s in enumerate(labels) if not s), None)
        if empty is not None:
            raise DataError(f"{where}: data row {empty + 1} has an empty label; fill it in")
        notes.append(f"labels from {_column(label_col, header)}")
        y = np.array(labels) if y is None else y
    _check_finite(x, y, where)
    return x, y, notes


def _rows(data: bytes, where: str) -> Iterator[Row]:
    """Non-blank rows with their line numbers, decoded lazily."""
    first = data[:data.find(b"\n")].decode("utf-8", errors="replace")
    delimiter = max(DELIMITERS, key=first.count)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(text, delimiter=delimiter)
    try:
        for cells in reader:
            if cells and not (len(cells) == 1 and not cells[0].strip()):   # skip blank lines
                yield reader.line_num, cells
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not UTF-8 text (near line {reader.line_num + 1}, byte "
                        f"{e.start}); save the CSV as UTF-8") from None
    except csv.Error as e:
        raise DataError(f"{where}: malformed CSV at line {reader.line_num} ({e})") from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_header(head: list[Row]) -> bool:
    """A first row with text where numbers follow (the last column may be text labels)."""
    first = head[0][1]
    if not all(_is_number(c) for c in first[:-1]):
        return True
    if _is_number(first[-1]):
        return False
    if first[-1].strip().lower() in LABEL_COLUMNS:
        return True
    return len(head) > 1 and len(head[1][1]) == len(first) and _is_number(head[1][1][-1])


def _named_label(header: list[str] | None) -> int | None:
    names = [h.strip().lower() for h in header] if header else []
    return next((names.index(n) for n in LABEL_COLUMNS if n in names), None)


def _numbers(line: int, cells: list[str], columns: list[int], header: list[str] | None,
             where: str) -> np.ndarray:
    try:
        return np.array([float(cells[j]) for j in columns], dtype=np.float64)
    except ValueError:
        pass
    j = next(j for j in columns if not _is_number(cells[j]))
    what = "an empty cell" if not cells[j].strip() else repr(cells[j].strip()[:40])
    raise DataError(f"{where}: line {line}, {_column(j, header)}: {what} is not a number "
                    "(only the label column may hold text)")


def _check_finite(x: np.ndarray, y: np.ndarray | None, where: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        i, j = np.unravel_index(int(np.argmax(bad)), x.shape)
        raise DataError(f"{where}: data row {i + 1}, feature {j + 1} is {x[i, j]}; NaN/inf "
                        "values are not allowed, remove or impute them")
    if y is not None and y.dtype.kind == "f" and not np.isfinite(y).all():
        raise DataError(f"{where}: labels contain NaN/inf; every row needs a label")


def _column(j: int, header: list[str] | None) -> str:
    return f"column {j + 1}" + (f" ({header[j].strip()[:40]!r})" if header else "")


def _as_numbers(texts: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(t) for t in texts], dtype=np.float64)
    except ValueError:
        return None
