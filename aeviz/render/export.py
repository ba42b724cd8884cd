"""Exports: embedding tables (CSV, Parquet), checkpoint zips, figures, and the
TensorBoard Embedding Projector bundle.

Everything returns bytes (or a dict of name -> bytes) so the app can hand it
to a download button and tests can open it again; nothing is written to disk.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from aeviz.core.errors import DataError
from aeviz.render.images import image_grid, is_image_shape, png_bytes, to_uint8

MAX_SPRITE_SIDE = 8192          # the Projector refuses sprites larger than 8192 px a side
MAX_ZIP_BYTES = 2 * 2 ** 30     # checkpoint folders are small; refuse anything huge


def embedding_table(codes: np.ndarray, labels: np.ndarray | None = None,
                    coords: np.ndarray | None = None,
                    class_names: list[str] | None = None) -> dict[str, np.ndarray]:
    """Columns: index, [label, class], [x, y], z0..z{D-1}; every column has N rows."""
    z = np.asarray(codes, dtype=np.float32)
    if z.ndim != 2:
        raise DataError(f"codes must be (N, D), got shape {z.shape}")
    n = len(z)
    table: dict[str, np.ndarray] = {"index": np.arange(n)}
    if labels is not None:
        y = np.asarray(labels)
        _check_rows("labels", y, n)
        table["label"] = y
        if class_names is not None:
            table["class"] = np.array([_class_name(v, class_names) for v in y], dtype=object)
    if coords is not None:
        xy = np.asarray(coords, dtype=np.float32)
        _check_rows("map coordinates", xy, n)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise DataError(f"map coordinates must be (N, 2), got {xy.shape}")
        table["x"], table["y"] = xy[:, 0], xy[:, 1]
    for d in range(z.shape[1]):
        table[f"z{d}"] = z[:, d]
    return table


def _check_rows(what: str, arr: np.ndarray, n: int) -> None:
    if len(arr) != n:
        raise DataError(f"{what} have {len(arr)} rows but there are {n} codes; export one split at a time")


def _class_name(label: Any, class_names: list[str]) -> str:
    i = int(label)
    return class_names[i] if 0 <= i < len(class_names) else str(label)


# --- CSV -----------------------------------------------------------------------------
# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV
# injection"): `=cmd|' /C calc'!A0`, `+HYPERLINK(...)`, `@SUM(...)`, `-2+3`. aeviz
# writes every text cell quoted and puts a `'` (the spreadsheet's "this is text" mark)
# before any text cell that starts with a trigger or with `'` itself. So in aeviz's
# own CSV a text cell starts with `'` exactly when aeviz added one, and reading it
# back removes that one `'`. Numbers are written bare and never altered: -1.5 is a
# number, not a formula.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_TEXT_MARK = "'"


def table_to_csv(table: dict[str, np.ndarray]) -> bytes:
    """RFC 4180 CSV (CRLF rows) with a header row: numbers bare, floats with repr precision
    (exact round trip), every text cell quoted and neutralised against formulas."""
    buf = io.StringIO(newline="")
    # QUOTE_NONNUMERIC quotes every str and no int/float: text cells are quoted even
    # when they hold \r, \n, quotes or commas, and the reader can tell text from numbers.
    writer = csv.writer(buf, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    names = list(table)
    writer.writerow([neutralise(str(k)) for k in names])
    writer.writerows(zip(*(_cells(table[k]) for k in names)))
    return buf.getvalue().encode("utf-8")


def neutralise(text: str) -> str:
    """``text`` as a spreadsheet shows it but never runs it (see FORMULA_TRIGGERS)."""
    return _TEXT_MARK + text if text.startswith((*FORMULA_TRIGGERS, _TEXT_MARK)) else text


def _cells(col: np.ndarray) -> list:
    # Python ints and floats are written bare (str(float) is repr: exact); the rest as text
    if col.dtype.kind in "iu":
        return [int(v) for v in col.tolist()]
    if col.dtype.kind == "f":
        return [float(v) for v in col]
    return [neutralise(str(v)) for v in col.tolist()]


def csv_to_table(data: bytes) -> dict[str, np.ndarray]:
    """Read ``table_to_csv`` output back exactly: bare columns become int or float arrays,
    quoted ones text (object) arrays with the `'` aeviz added removed."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"this CSV is not UTF-8 ({e.reason} at byte {e.start}); "
                        "csv_to_table reads CSVs that aeviz exported") from None
    raw, typed = _parse(text, csv.QUOTE_MINIMAL), _parse(text, csv.QUOTE_NONNUMERIC)
    if not raw:
        raise DataError("empty CSV: expected a header row")
    names = [_unneutralise(v) for v in raw[0]]
    return {name: _column(name, [r[j] for r in raw[1:]], [r[j] for r in typed[1:]])
            for j, name in enumerate(names)}


def _parse(text: str, quoting: int) -> list[list]:
    # Two passes over the same text: QUOTE_MINIMAL gives each cell's exact characters,
    # QUOTE_NONNUMERIC tells quoted (text) cells from bare (number) ones.
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), quoting=quoting))
    except (csv.Error, ValueError) as e:
        raise DataError(f"not a CSV that aeviz exported ({e}); text cells must be quoted and "
                        "numbers bare, as table_to_csv writes them") from None
    if any(len(r) != len(rows[0]) for r in rows):
        raise DataError("ragged CSV: every row must have as many cells as the header")
    return rows


def _column(name: str, raw: list[str], typed: list) -> np.ndarray:
    quoted = [isinstance(v, str) for v in typed]
    if all(quoted):
        return np.array([_unneutralise(v) for v in raw], dtype=object)
    if any(quoted):
        raise DataError(f"column {name!r} mixes quoted text and bare numbers; "
                        "csv_to_table reads CSVs that aeviz exported")
    try:
        return np.array([int(v) for v in raw])
    except ValueError:
        return np.array([float(v) for v in raw])


def _unneutralise(text: str) -> str:
    return text[len(_TEXT_MARK):] if text.startswith(_TEXT_MARK) else text


def table_to_parquet(table: dict[str, np.ndarray]) -> bytes:
    """Parquet bytes (needs pandas + pyarrow); raises DataError saying what to install."""
    if not (importlib.util.find_spec("pandas") and importlib.util.find_spec("pyarrow")):
        raise DataError("Parquet export needs pandas and pyarrow: pip install pandas pyarrow "
                        "(or use the CSV export)")
    import pandas as pd
    buf = io.BytesIO()
    pd.DataFrame(table).to_parquet(buf, index=False)
    return buf.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip (deflated) holding ``files`` (archive name -> content)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def folder_files(folder: str | Path, arcroot: str | None = None) -> dict[str, bytes]:
    """Files of a checkpoint folder as ``{"<arcroot>/<relative path>": bytes}``, links skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder; nothing to zip")
    arcroot = folder.name if arcroot is None else arcroot
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    total = sum(p.stat().st_size for p in files)
    if total > MAX_ZIP_BYTES:
        raise DataError(f"{folder.name} holds {total / 2**20:.0f} MB; too large to zip for download")
    return {f"{arcroot}/{p.relative_to(folder).as_posix()}".lstrip("/"): p.read_bytes() for p in files}


def folder_zip(folder: str | Path, arcroot: str | None = None) -> bytes:
    """Zip a checkpoint folder; entries are ``<arcroot>/<relative path>``."""
    return zip_bytes(folder_files(folder, arcroot))


def figure_bytes(fig: Any) -> tuple[bytes, str, str]:
    """(data, file extension, MIME type) for a plotly figure.

    PNG if kaleido is installed (plotly needs it for static images), else a
    standalone HTML page (plotly.js inlined, so it works offline).
    """
    if kaleido_available():
        return fig.to_image(format="png", scale=2), "png", "image/png"
    html = fig.to_html(include_plotlyjs=True, full_html=True)
    return html.encode("utf-8"), "html", "text/html"


def kaleido_available() -> bool:
    return importlib.util.find_spec("kaleido") is not None


# --- TensorBoard Embedding Projector -------------------------------------------------

def sprite_image(images: np.ndarray, thumb: int) -> np.ndarray:
    """The Projector's sprite: ceil(sqrt(N)) thumbnails a side, row-major, no padding.

    Each image is resized to ``thumb`` x ``thumb`` (nearest neighbour) so the
    sprite is exactly ceil(sqrt(N)) * thumb pixels a side; unused cells are black.
    """
    frames = to_uint8(images)
    n = len(frames)
    side = math.ceil(math.sqrt(n))
    if side * thumb > MAX_SPRITE_SIDE:
        raise DataError(f"{n} thumbnails of {thumb}px need a {side * thumb}px sprite; the Projector "
                        f"allows {MAX_SPRITE_SIDE}px: export fewer points or smaller thumbnails")
    rows = (np.arange(thumb) * frames.shape[1]) // thumb      # nearest-neighbour resize indices
    cols = (np.arange(thumb) * frames.shape[2]) // thumb
    thumbs = frames[:, rows][:, :, cols]
    blank = np.zeros((side * side - n, *thumbs.shape[1:]), dtype=np.uint8)   # square, not ragged
    return image_grid(np.concatenate([thumbs, blank]), n_cols=side, pad=0, pad_value=0)


def projector_files(codes: np.ndarray, labels: np.ndarray | None = None,
                    class_names: list[str] | None = None, images: np.ndarray | None = None,
                    thumb: int = 28, tensor_name: str = "aeviz") -> dict[str, bytes]:
    """vectors.tsv, metadata.tsv, [sprite.png], projector_config.pbtxt for projector.tensorflow.org.

    Load in the Projector with "Load" (vectors, then metadata), or point
    TensorBoard's log dir at the unzipped folder.
    """
    z = np.asarray(codes, dtype=np.float32)
    if z.ndim != 2 or len(z) == 0:
        raise DataError(f"codes must be a non-empty (N, D) array, got shape {z.shape}")
    files = {"vectors.tsv": _tsv([[repr(float(v)) for v in row] for row in z])}
    meta_rows = [["index"]] + [[str(i)] for i in range(len(z))]
    if labels is not None:
        y = np.asarray(labels)
        _check_rows("labels", y, len(z))
        meta_rows = [["index", "label", "class"]] + [
            [str(i), str(v), _class_name(v, class_names) if class_names else str(v)]
            for i, v in enumerate(y.tolist())]
    # The Projector reads a header only when there are >= 2 columns; "index" keeps it at >= 2.
    if len(meta_rows[0]) == 1:
        meta_rows = [["index", "name"]] + [[r[0], f"point {r[0]}"] for r in meta_rows[1:]]
    files["metadata.tsv"] = _tsv(meta_rows)
    if images is not None:
        if len(images) != len(z):
            raise DataError(f"{len(images)} images for {len(z)} codes; they must match")
        if not is_image_shape(np.asarray(images).shape[1:]):
            raise DataError("sprites need image data; this dataset has vectors (export without images)")
        files["sprite.png"] = png_bytes(sprite_image(images, thumb))
    files["projector_config.pbtxt"] = _pbtxt(tensor_name, "sprite.png" in files, thumb)
    return files


# Characters that end a line for the Projector's reader or for str.splitlines (which
# also splits on \v, \f, \x1c-\x1e, \x85, U+2028 and U+2029), plus the column separator.
# Each becomes one space in metadata.tsv: the file keeps exactly one line per point and
# the label stays readable; the exact label is in the CSV export.
TSV_BREAKERS = "\t\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_TSV_CLEAN = str.maketrans(dict.fromkeys(TSV_BREAKERS, " "))


def _tsv(rows: list[list[str]]) -> bytes:
    clean = [[c.translate(_TSV_CLEAN) for c in row] for row in rows]
    return ("\n".join("\t".join(r) for r in clean) + "\n").encode("utf-8")


def _pbtxt(tensor_name: str, sprite: bool, thumb: int) -> bytes:
    name = "".join(ch for ch in tensor_name if ch.isalnum() or ch in "._- ") or "aeviz"
    lines = ["embeddings {", f'  tensor_name: "{name}"', '  tensor_path: "vectors.tsv"',
             '  metadata_path: "metadata.tsv"']
    if sprite:
        lines += ["  sprite {", '    image_path: "sprite.png"',
                  f"    single_image_dim: {thumb}", f"    single_image_dim: {thumb}", "  }"]
    lines.append("}")
    return ("\n".join(lines) + "\n").encode("utf-8")
