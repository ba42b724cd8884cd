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


def table_to_csv(table: dict[str, np.ndarray]) -> bytes:
    """CSV with a header row; floats written with repr precision (exact round trip)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = list(table)
    writer.writerow(names)
    columns = [_as_text(table[k]) for k in names]
    writer.writerows(zip(*columns))
    return buf.getvalue().encode("utf-8")


def _as_text(col: np.ndarray) -> list[str]:
    if col.dtype.kind == "f":
        return [repr(float(v)) for v in col]
    return [str(v) for v in col.tolist()]


def csv_to_table(data: bytes) -> dict[str, np.ndarray]:
    """Read ``table_to_csv`` output back: numeric columns become numbers."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows:
        raise DataError("empty CSV: expected a header row")
    names, body = rows[0], rows[1:]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        col = [r[j] for r in body]
        try:
            out[name] = np.array([int(v) for v in col])
        except ValueError:
            try:
                out[name] = np.array([float(v) for v in col])
            except ValueError:
                out[name] = np.array(col, dtype=object)
    return out


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


def _tsv(rows: list[list[str]]) -> bytes:
    clean = [[c.replace("\t", " ").replace("\n", " ") for c in row] for row in rows]
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
