import csv
import io
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aeviz.core.errors import DataError
from aeviz.data.tables import parse_csv
from aeviz.data.uploads import load_user_data, read_npy
from conftest import zip_bytes

RNG = np.random.default_rng(0)


def npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def png(mode: str, size: tuple[int, int], color) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, "PNG")
    return buf.getvalue()


zip_of = zip_bytes


# ------------------------------------------------------------------ .npy

def test_uint8_images_divided_by_255():
    x = RNG.integers(0, 256, (50, 28, 28), dtype=np.uint8)
    d = load_user_data(npy(x), "digits.npy")
    assert d.name == "digits.npy" and d.sample_shape == (1, 28, 28)
    assert (len(d.x_train), len(d.x_test)) == (40, 10)
    assert d.class_names == ("unlabelled",) and "divided by 255" in d.description
    both = np.concatenate([d.x_train, d.x_test])
    np.testing.assert_allclose(np.sort(both.ravel()), np.sort(x.ravel() / 255.0), rtol=1e-6)


def test_out_of_range_floats_min_max_scaled():
    x = RNG.normal(size=(30, 4)) * 10
    d = load_user_data(npy(x), "v.npy")
    assert d.x_train.dtype == np.float32 and d.sample_shape == (4,)
    assert "min-max scaled from" in d.description
    both = np.concatenate([d.x_train, d.x_test])
    assert both.min() == 0.0 and both.max() == 1.0


def test_values_in_unit_range_kept():
    x = RNG.random((10, 3)).astype(np.float32)
    d = load_user_data(npy(x), "v.npy", test_fraction=0.5)
    assert "already in [0, 1]" in d.description
    np.testing.assert_array_equal(np.sort(np.concatenate([d.x_train, d.x_test]).ravel()),
                                  np.sort(x.ravel()))


def test_channels_last_converted():
    x = RNG.integers(0, 256, (6, 8, 9, 3), dtype=np.uint8)
    assert load_user_data(npy(x), "c.npy").sample_shape == (3, 8, 9)


def test_vectors_reshaped_to_image_size():
    d = load_user_data(npy(RNG.random((10, 64))), "v.npy", image_size=(8, 8))
    assert d.sample_shape == (1, 8, 8) and d.is_image
    with pytest.raises(DataError, match="cannot be shown as 7x7"):
        load_user_data(npy(RNG.random((10, 64))), "v.npy", image_size=(7, 7))


@pytest.mark.parametrize("arr, message", [
    (np.array([1, None, "x"], dtype=object), "Python objects"),
    (np.zeros(3, dtype=[("a", "f4"), ("b", "i4")]), "not supported"),
    (np.zeros((4, 2), dtype=np.complex64), "not supported"),
    (np.array(3.0), "single scalar"),
    (np.zeros(5), "not \\(N, D\\)"),
    (np.zeros((2, 2, 2, 2, 2)), "not \\(N, D\\)"),
    (np.zeros((3, 5, 5, 5)), "1 or 3 channels"),
    (np.zeros((1, 5)), "at least 2 samples"),
    (np.array([[0.5, np.nan], [0.1, 0.2]]), "NaN/inf"),
    (np.array([[0.5, np.inf], [0.1, 0.2]]), "NaN/inf"),
])
def test_bad_npy_refused(arr, message):
    with pytest.raises(DataError, match=message):
        load_user_data(npy(arr, allow_pickle=True), "bad.npy")


def test_pickle_file_renamed_npy_refused():
    with pytest.raises(DataError, match="not a valid .npy"):
        load_user_data(pickle.dumps({"x": [1, 2, 3]}), "evil.npy")


def test_lying_npy_header_refused_before_loading():
    data = npy(np.zeros((4, 3)))
    huge = data.replace(b"(4, 3)", b"(10000000000, 784)".ljust(6))
    with pytest.raises(DataError, match="over the limit of 200,000"):
        read_npy(huge, "h.npy", max_items=200_000)
    with pytest.raises(DataError, match="truncated/corrupt"):
        read_npy(data[:-8], "t.npy", max_items=200_000)
    with pytest.raises(DataError, match="truncated/corrupt"):
        read_npy(data + b"junk", "t.npy", max_items=200_000)


# ------------------------------------------------------------------ .npz

def test_npz_with_text_labels_stratified():
    x = RNG.random((60, 5))
    y = np.array(["cat", "dog", "eel"] * 20)
    d = load_user_data(npz(x=x, y=y), "a.npz", test_fraction=0.25, seed=3)
    assert d.class_names == ("cat", "dog", "eel")
    assert np.bincount(d.y_test).tolist() == [5, 5, 5]


def test_npz_keys_and_errors():
    x = RNG.random((10, 2))
    d = load_user_data(npz(data=x, labels=np.arange(10) % 2), "a.npz")
    assert d.class_names == ("0", "1")
    assert load_user_data(npz(whatever=x), "a.npz").sample_shape == (2,)
    with pytest.raises(DataError, match="no array named x / X / data \\(has: a, b\\)"):
        load_user_data(npz(a=x, b=x), "a.npz")
    with pytest.raises(DataError, match="labels have shape \\(9,\\); expected \\(10,\\)"):
        load_user_data(npz(x=x, y=np.zeros(9)), "a.npz")
    with pytest.raises(DataError, match="whole numbers or text"):
        load_user_data(npz(x=x, y=np.linspace(0, 1, 10)), "a.npz")
    with pytest.raises(DataError, match="distinct labels"):
        load_user_data(npz(x=RNG.random((300, 2)), y=np.arange(300)), "a.npz")
    with pytest.raises(DataError, match="Python objects"):
        load_user_data(npz(x=x, y=np.array([None] * 10, dtype=object)), "a.npz")


def test_split_is_seeded():
    data = npy(RNG.random((40, 3)))
    a, b = load_user_data(data, "v.npy", seed=1), load_user_data(data, "v.npy", seed=1)
    c = load_user_data(data, "v.npy", seed=2)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, c.x_test)


# ------------------------------------------------------------------ .csv

def test_csv_with_header_and_named_label_column():
    text = "a,class,b\n1,x,2\n3,y,4\n5,x,6\n7,y,8\n"
    d = load_user_data(text.encode(), "t.csv", test_fraction=0.5)
    assert d.class_names == ("x", "y") and d.sample_shape == (2,)
    assert "labels from column 2 ('class')" in d.description


def test_csv_without_header_text_last_column_is_label():
    x, y, notes = parse_csv(b"0.1,0.2,cat\n0.3,0.4,dog\n", "t.csv", 100)
    np.testing.assert_array_equal(x, [[0.1, 0.2], [0.3, 0.4]])
    assert y.tolist() == ["cat", "dog"] and "no header" in notes[0]


def test_csv_numeric_only_has_no_labels_and_semicolons():
    x, y, _ = parse_csv(b"1;2;3\n4;5;6\n\n7;8;9\n", "t.csv", 100)
    assert x.shape == (3, 3) and y is None


def test_csv_numeric_label_column_by_name():
    x, y, _ = parse_csv(b"p1,p2,label\n0,1,3\n1,0,7\n", "t.csv", 100)
    assert x.shape == (2, 2) and y.tolist() == [3.0, 7.0]


@pytest.mark.parametrize("text, message", [
    (b"", "empty"),
    (b"\n\n", "empty file"),
    (b"a,b,c\n", "no data rows"),
    (b"1,2,3\n4,5\n", "line 2 has 2 cells, expected 3"),
    (b"x,y2,z\n1,2,3\n4,oops,6\n", "line 3, column 2 \\('y2'\\): 'oops' is not a number"),
    (b"1,2,3\n4,,6\n", "line 2, column 2: an empty cell"),
    (b"1,2\n3,nan\n", "NaN/inf"),
    (b"1,inf,a\n3,4,b\n", "NaN/inf"),
    (b"\xff\xfe1,2\n", "not UTF-8"),
    (b"label\ncat\ndog\n", "no feature columns"),
    (b"1,2,a\n3,4,\n", "empty label"),
])
def test_bad_csv_refused(text, message):
    with pytest.raises(DataError, match=message):
        load_user_data(text, "bad.csv")


def test_csv_row_limit():
    with pytest.raises(DataError, match="more than 5 data rows"):
        load_user_data(b"1,2\n" * 6, "big.csv", max_items=5)


# ------------------------------------------------------------------ generic limits

def test_oversized_upload_refused(tmp_path):
    with pytest.raises(DataError, match="the limit is 0.0 MiB"):
        load_user_data(b"x" * 2000, "a.csv", max_bytes=1000)
    path = tmp_path / "a.npy"
    path.write_bytes(npy(np.zeros((100, 100))))
    with pytest.raises(DataError, match="limit"):
        load_user_data(path, "a.npy", max_bytes=1000)
    assert load_user_data(path, "a.npy").sample_shape == (100,)


def test_unsupported_type_and_bad_arguments():
    with pytest.raises(DataError, match="unsupported file type '.exe'"):
        load_user_data(b"MZ", "a.exe")
    with pytest.raises(DataError, match="test_fraction"):
        load_user_data(npy(np.zeros((4, 2))), "a.npy", test_fraction=1.0)
    with pytest.raises(DataError, match="image_size"):
        load_user_data(npy(np.zeros((4, 2))), "a.npy", image_size=(0, 5))


# ------------------------------------------------------------------ images

def test_image_zip_with_folders_mixed_modes_and_sizes():
    files = {f"set/cats/{i}.png": png("RGB", (10, 12), (200, 10, 10)) for i in range(4)}
    files.update({f"set/dogs/{i}.png": png("L", (10, 12), 90) for i in range(4)})
    files["set/dogs/odd.png"] = png("LA", (20, 24), (90, 255))
    files["set/notes.txt"] = b"ignored"
    files["__MACOSX/set/._x.png"] = b"junk"
    d = load_user_data(zip_of(files), "pets.zip", test_fraction=0.3)
    assert d.class_names == ("cats", "dogs") and d.sample_shape == (3, 12, 10)
    assert "(1 resized)" in d.description and "RGB" in d.description
    x, y = np.concatenate([d.x_train, d.x_test]), np.concatenate([d.y_train, d.y_test])
    np.testing.assert_allclose(x[y == 0][:, :, 0, 0], [[200 / 255, 10 / 255, 10 / 255]] * 4,
                               rtol=1e-6)
    np.testing.assert_allclose(x[y == 1], 90 / 255, rtol=1e-6)   # grey converted to RGB


def test_grey_images_stay_single_channel_and_big_images_shrink():
    files = {f"{i}.png": png("RGB", (100, 80), (i * 20,) * 3) for i in range(5)}
    d = load_user_data(zip_of(files), "g.zip")
    assert d.sample_shape == (1, 51, 64) and d.class_names == ("unlabelled",)
    d = load_user_data(zip_of(files), "g.zip", image_size=(16, 8))
    assert d.sample_shape == (1, 16, 8)


def test_palette_and_16_bit_images():
    pal = Image.new("P", (6, 6))
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 1)
    buf = io.BytesIO()
    pal.save(buf, "PNG")
    deep = io.BytesIO()
    Image.fromarray(np.arange(36, dtype=np.uint16).reshape(6, 6) * 1000).save(deep, "PNG")
    d = load_user_data(zip_of({"p.png": buf.getvalue(), "d.png": deep.getvalue()}), "m.zip",
                       test_fraction=0.5)
    assert d.sample_shape == (3, 6, 6)


def test_corrupt_images_named():
    good = png("L", (8, 8), 0)
    noise = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (32, 32), dtype=np.uint8)).save(noise, "PNG")
    files = {"a.png": good, "b.png": good, "broken.png": b"\x89PNG\r\n\x1a\nnope",
             "cut.png": noise.getvalue()[:500]}        # header fine, pixel data cut short
    with pytest.raises(DataError,
                       match="2 file\\(s\\) are not readable images: broken.png, cut.png"):
        load_user_data(zip_of(files), "x.zip")


def test_image_zip_refusals():
    with pytest.raises(DataError, match="no images found"):
        load_user_data(zip_of({"a.txt": b"hi"}), "x.zip")
    with pytest.raises(DataError, match="'..'"):
        load_user_data(zip_of({"../a.png": png("L", (4, 4), 0)}), "x.zip")
    bomb = zip_of({"a.png": png("L", (4, 4), 0), "z.png": bytes(8 * 2**20)})
    with pytest.raises(DataError, match="zip bomb"):
        load_user_data(bomb, "x.zip")
    with pytest.raises(DataError, match="over the limit of 2"):
        load_user_data(zip_of({f"{i}.png": png("L", (4, 4), 0) for i in range(3)}), "x.zip",
                       max_items=2)


def test_image_folder(tmp_path):
    for cls, value in (("a", 10), ("b", 240)):
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f"{i}.png").write_bytes(png("L", (5, 5), value))
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    d = load_user_data(tmp_path, "folder", test_fraction=0.34)
    assert d.class_names == ("a", "b") and d.sample_shape == (1, 5, 5)
    assert len(d.x_train) + len(d.x_test) == 6


# ------------------------------------------------------------------ class and file names

NFC, NFD = "caf\u00e9", "cafe\u0301"          # the same word, two byte sequences
UNSAFE = ["\n", "\r", "\t", "\x1b[31m", "\x7f", "\x85", "\x9b", "\u2028", "\u061c", "\u200e",
          "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
          "\u2069"]


def labelled_upload(source: str, labels: list[str]) -> tuple[bytes, str]:
    """An upload in ``source`` format whose class names are ``labels``, one sample each."""
    if source == "zip":
        return zip_of({f"{c}/{i}.png": png("L", (4, 4), 9 * i) for i, c in enumerate(labels)}), "u.zip"
    if source == "csv":
        rows = io.StringIO()
        csv.writer(rows).writerows([["f", "label"]] + [[i, c] for i, c in enumerate(labels)])
        return rows.getvalue().encode(), "u.csv"
    return npz(x=np.arange(len(labels) * 2.0).reshape(-1, 2), y=np.array(labels)), "u.npz"


@pytest.mark.parametrize("source", ["zip", "csv", "npz"])
@pytest.mark.parametrize("char", UNSAFE)
def test_class_names_with_control_or_bidi_characters_refused(source, char):
    bad = f"cat{char}s"
    data, name = labelled_upload(source, [bad, "dog", "dog", bad])
    with pytest.raises(DataError, match=f"U\\+{ord(char[0]):04X}") as e:
        load_user_data(data, name)
    message = str(e.value)
    assert repr(bad)[1:-1] in message and char[0] not in message   # named, escaped, never raw


@pytest.mark.parametrize("source", ["zip", "csv", "npz"])
def test_class_names_equal_after_nfc_are_one_class(source):
    data, name = labelled_upload(source, [NFC, NFD, "tea", "tea"])
    d = load_user_data(data, name, test_fraction=0.5)
    assert d.class_names == (NFC, "tea")
    assert sorted(np.concatenate([d.y_train, d.y_test]).tolist()) == [0, 0, 1, 1]


def test_zip_names_equal_after_nfc_are_one_name():
    with pytest.raises(DataError, match="twice .*Unicode normalisation"):
        load_user_data(zip_of({f"{NFC}.png": png("L", (4, 4), 0),
                               f"{NFD}.png": png("L", (4, 4), 0)}), "u.zip")


def test_file_names_in_messages_are_escaped():
    files = {"a.png": png("L", (4, 4), 0), "b.png": png("L", (4, 4), 0),
             "x\x1b[2J\u202egnp.exe.png": b"junk"}
    with pytest.raises(DataError, match="not readable images") as e:
        load_user_data(zip_of(files), "u.zip")
    assert "x\\x1b[2J\\u202egnp.exe.png" in str(e.value)
    assert "\x1b" not in str(e.value) and "\u202e" not in str(e.value)
    with pytest.raises(DataError, match=r"no array named .*has: a, z\\n\)") as e:
        load_user_data(npz(**{"a": np.zeros(2), "z\n": np.zeros(2)}), "u.npz")
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="file name 'evil\\\\u202egpj.npy' contains U\\+202E"):
        load_user_data(npy(np.zeros((4, 2))), "evil\u202egpj.npy")


# ------------------------------------------------------------------ property tests

CSV_ALPHABET = "0123456789.,;-+e \nabnif\"\t"


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=CSV_ALPHABET, max_size=200))
def test_csv_parser_only_raises_data_error(text):
    try:
        x, y, _ = parse_csv(text.encode(), "f.csv", 1000)
    except DataError:
        return
    assert x.ndim == 2 and np.isfinite(x).all() and (y is None or len(y) == len(x))


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 127), st.integers(0, 255))
def test_npy_reader_only_raises_data_error(blob, pos, value):
    mutated = bytearray(npy(np.arange(12.0).reshape(3, 4)))
    mutated[pos] = value
    for data in (blob, b"\x93NUMPY\x01\x00" + blob, bytes(mutated)):
        try:
            read_npy(data, "f.npy", max_items=1000)
        except DataError:
            pass


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([".npy", ".npz", ".csv", ".zip"]))
def test_any_upload_only_raises_data_error(blob, suffix):
    try:
        d = load_user_data(blob, "f" + suffix)
    except DataError:
        return
    assert d.x_train.dtype == np.float32


def test_huge_csv_stops_early_at_the_value_limit(monkeypatch):
    from aeviz.data import tables as usercsv
    monkeypatch.setattr(usercsv, "MAX_CSV_VALUES", 10_000)
    parsed = []
    real = usercsv._numbers
    monkeypatch.setattr(usercsv, "_numbers", lambda *a: parsed.append(1) or real(*a))
    data = ("0," * 99 + "0\n").encode() * 50_000                 # 5M values
    with pytest.raises(DataError, match="more than 10,000 values"):
        load_user_data(data, "big.csv")
    assert len(parsed) <= 100                                       # stopped early, not at the end


SCALE_PROBE = """
import resource, numpy as np
from aeviz.data.uploads import _scale
x = np.random.default_rng(0).normal(0, 3, (100_000, 100))       # 80 MB of float64
x[5, 7] = 1e6
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out, note = _scale(x, "big.npy")
grew = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0, (out.min(), out.max())
assert "min-max scaled" in note
print(grew)
"""


def test_scaling_a_large_float64_upload_costs_its_float32_result_not_copies():
    import subprocess
    import sys
    proc = subprocess.run([sys.executable, "-c", SCALE_PROBE], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    grew_mb = float(proc.stdout.split()[-1])
    assert grew_mb < 70, grew_mb        # 40 MB float32 result + one 8 MB block; full copies: > 200 MB


def test_scaling_matches_plain_min_max_and_reports_non_finite_rows():
    from aeviz.data.uploads import _scale
    x = np.random.default_rng(1).normal(5, 2, (3000, 700))         # several working blocks
    out, _ = _scale(x, "f.npy")
    np.testing.assert_allclose(out, (x - x.min()) / (x.max() - x.min()), atol=1e-6)
    x[2500, 3] = np.nan
    x[2900, 1] = np.inf
    with pytest.raises(DataError, match=r"2 NaN/inf values \(first in sample 2500\)"):
        _scale(x, "f.npy")
