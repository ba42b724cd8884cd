import io
import math
import zipfile

import numpy as np
import pytest

from aeviz.core.errors import DataError
from aeviz.render.export import (csv_to_table, embedding_table, figure_bytes, folder_zip,
                          kaleido_available, projector_files, sprite_image, table_to_csv,
                          table_to_parquet, zip_bytes)
from aeviz.render.images import read_png

RNG = np.random.default_rng(0)
CODES = RNG.normal(size=(7, 3)).astype(np.float32)
LABELS = np.array([0, 1, 2, 0, 1, 2, 0])
COORDS = RNG.normal(size=(7, 2)).astype(np.float32)
NAMES = ["zero", "one", "two"]


def test_embedding_table_columns():
    t = embedding_table(CODES, LABELS, COORDS, NAMES)
    assert list(t) == ["index", "label", "class", "x", "y", "z0", "z1", "z2"]
    assert t["class"][1] == "one" and all(len(v) == 7 for v in t.values())
    with pytest.raises(DataError, match="one split"):
        embedding_table(CODES, LABELS[:3])


def test_csv_round_trip_is_exact():
    t = embedding_table(CODES, LABELS, COORDS, NAMES)
    back = csv_to_table(table_to_csv(t))
    assert list(back) == list(t)
    np.testing.assert_array_equal(back["label"], LABELS)
    np.testing.assert_array_equal(back["z1"].astype(np.float32), CODES[:, 1])
    np.testing.assert_array_equal(back["x"].astype(np.float32), COORDS[:, 0])
    assert list(back["class"]) == [NAMES[i] for i in LABELS]


def test_parquet_round_trip():
    import pandas as pd                       # runtime requirements: missing ones fail, never skip
    df = pd.read_parquet(io.BytesIO(table_to_parquet(embedding_table(CODES, LABELS, COORDS))))
    assert df.shape == (7, 1 + 1 + 2 + 3)
    np.testing.assert_array_equal(df["z2"].to_numpy(), CODES[:, 2])


@pytest.mark.parametrize("n, thumb", [(1, 8), (5, 10), (16, 4), (17, 6)])
def test_sprite_is_square_grid_of_thumbnails(n, thumb):
    imgs = RNG.random((n, 1, 8, 8)).astype(np.float32)
    s = sprite_image(imgs, thumb)
    side = math.ceil(math.sqrt(n)) * thumb
    assert s.shape == (side, side)


def test_sprite_cell_content_and_limit():
    imgs = np.zeros((5, 1, 2, 2), np.float32)
    imgs[4] = 1.0
    s = sprite_image(imgs, 4)                     # 3x3 grid of 4px cells; image 4 -> row 1, col 1
    assert (s[4:8, 4:8] == 255).all() and s[:4].max() == 0
    with pytest.raises(DataError, match="8192"):
        sprite_image(np.zeros((400, 1, 2, 2), np.float32), 512)


def test_projector_bundle_formats():
    imgs = RNG.random((7, 1, 8, 8)).astype(np.float32)
    files = projector_files(CODES, LABELS, NAMES, imgs, thumb=16)
    assert set(files) == {"vectors.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt"}
    vec = files["vectors.tsv"].decode().splitlines()
    assert len(vec) == 7 and all(len(r.split("\t")) == 3 for r in vec)     # no header
    np.testing.assert_array_equal(np.array([r.split("\t") for r in vec], float).astype(np.float32), CODES)
    meta = files["metadata.tsv"].decode().splitlines()
    assert meta[0] == "index\tlabel\tclass" and len(meta) == 8 and meta[2] == "1\t1\tone"
    assert read_png(files["sprite.png"]).shape == (3 * 16, 3 * 16)
    cfg = files["projector_config.pbtxt"].decode()
    for part in ('tensor_path: "vectors.tsv"', 'metadata_path: "metadata.tsv"',
                 'image_path: "sprite.png"', "single_image_dim: 16"):
        assert part in cfg
    assert cfg.count("{") == cfg.count("}") == 2


def test_projector_without_labels_or_images():
    files = projector_files(CODES)
    assert "sprite.png" not in files and "sprite" not in files["projector_config.pbtxt"].decode()
    meta = files["metadata.tsv"].decode().splitlines()
    assert meta[0] == "index\tname" and len(meta) == 8
    with pytest.raises(DataError, match="vectors"):
        projector_files(CODES, images=np.zeros((7, 3)))


def test_zips(tmp_path):
    folder = tmp_path / "my-model"
    (folder / "maps").mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "maps" / "pca.npz").write_bytes(b"abc")
    with zipfile.ZipFile(io.BytesIO(folder_zip(folder))) as zf:
        assert sorted(zf.namelist()) == ["my-model/config.json", "my-model/maps/pca.npz"]
        assert zf.read("my-model/maps/pca.npz") == b"abc"
    with zipfile.ZipFile(io.BytesIO(zip_bytes({"a/b.txt": b"x"}))) as zf:
        assert zf.read("a/b.txt") == b"x"
    with pytest.raises(DataError, match="not a folder"):
        folder_zip(tmp_path / "missing")


def test_figure_bytes_png_or_html():
    import plotly.graph_objects as go
    data, ext, mime = figure_bytes(go.Figure(go.Scatter(x=[0, 1], y=[1, 0])))
    if kaleido_available():
        assert ext == "png" and data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert ext == "html" and mime == "text/html" and b"plotly" in data.lower()


# --- hostile labels: each export keeps its format, spreadsheets run no formula ------------

HOSTILE = ["=cmd|' /C calc'!A0", '+HYPERLINK("http://evil.example","click")', "@SUM(A1:A9)",
           "-2+3", "\t=1+1", "\r=1+1", "=", "-", "'apostrophe", "''", "'=quoted already",
           "a\rb", "a\nb", "a\r\nb", 'say "hi"', "a,b", '",=1', "a\u2028b", "a\u2029b",
           "a\x0bb", "a\x0cb", "a\x1cb\x1db\x1eb", "a\x85b", "a\x00b", "\u202eevil.exe",
           "🦊 fox", "x" * 10_000, "", " =lead", "0", "-1.5", "nan", "1e5"]


def hostile_table() -> dict[str, np.ndarray]:
    n = len(HOSTILE)
    codes = np.linspace(-2, 2, n * 2, dtype=np.float32).reshape(n, 2)   # negatives included
    return embedding_table(codes, np.arange(n), -codes, HOSTILE)


def test_csv_round_trip_of_hostile_labels_is_exact():
    t = hostile_table()
    back = csv_to_table(table_to_csv(t))
    assert list(back) == list(t)
    assert list(back["class"]) == HOSTILE           # "0", "-1.5", "nan" stay text
    np.testing.assert_array_equal(back["label"], t["label"])
    for k in ("x", "y", "z0", "z1"):
        assert back[k].dtype.kind == "f"
        np.testing.assert_array_equal(back[k].astype(np.float32), t[k])
    import pandas as pd
    df = pd.read_parquet(io.BytesIO(table_to_parquet(t)))
    assert df["class"].tolist() == HOSTILE and df["label"].tolist() == list(range(len(HOSTILE)))


def test_csv_cells_never_start_a_formula_and_numbers_stay_bare():
    import csv
    text = table_to_csv(hostile_table()).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))          # what a spreadsheet sees
    assert len(rows) == len(HOSTILE) + 1 and all(len(r) == len(rows[0]) for r in rows)
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    classes = [r[2] for r in rows[1:]]
    assert classes[0] == "'=cmd|' /C calc'!A0" and classes[3] == "'-2+3" and classes[8] == "''apostrophe"
    negatives = [r[5] for r in rows[1:] if r[5].startswith("-")]     # z0: numbers, bare
    assert negatives and all(float(v) < 0 for v in negatives)
    assert f'\r\n{len(HOSTILE) - 1},{len(HOSTILE) - 1},"' in text       # index, label bare; class quoted


def test_csv_reader_refuses_foreign_csv():
    with pytest.raises(DataError, match="mixes quoted text and bare numbers"):
        csv_to_table(b'"a"\r\n"x"\r\n1\r\n')
    with pytest.raises(DataError, match="not a CSV that aeviz exported"):
        csv_to_table(b"a,b\r\nx,1\r\n")
    with pytest.raises(DataError, match="ragged"):
        csv_to_table(b'"a","b"\r\n1\r\n')
    with pytest.raises(DataError, match="not UTF-8"):
        csv_to_table(b'"a"\r\n"\xff"\r\n')


def test_projector_metadata_has_one_line_per_point_for_hostile_labels():
    n = len(HOSTILE)
    files = projector_files(np.zeros((n, 2), np.float32), np.arange(n), HOSTILE)
    text = files["metadata.tsv"].decode("utf-8")
    lines = text.splitlines()
    assert len(lines) == n + 1 and text.count("\n") == n + 1
    assert all(len(line.split("\t")) == 3 for line in lines)
    i = HOSTILE.index("a\u2028b")
    assert lines[1 + i] == f"{i}\t{i}\ta b"                 # the break became a space


def test_tsv_breakers_are_every_line_break_of_str_splitlines():
    from aeviz.render.export import TSV_BREAKERS
    splitters = {chr(c) for c in range(0x110000) if len(f"a{chr(c)}b".splitlines()) > 1}
    assert splitters | {"\t"} == set(TSV_BREAKERS)
