"""aeviz.data.images: Pillow opens only the formats aeviz chose, as named, within a pixel budget."""
import io
import os
import stat

import numpy as np
import pytest
from conftest import zip_bytes
from PIL import EpsImagePlugin, Image

from aeviz.core import limits
from aeviz.core.errors import DataError
from aeviz.data import images
from aeviz.data.images import ImageRefused, open_image
from aeviz.data.uploads import load_user_data


def saved(fmt: str, mode: str = "L", size=(8, 8), color=100, **options) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, fmt, **options)
    return buf.getvalue()


GOOD = {"a.png": saved("PNG"), "b.png": saved("PNG")}


# ---------------------------------------------------------------- formats

@pytest.mark.parametrize("fmt, shown_as", [
    ("TGA", None),            # no magic bytes: Pillow would try it on anything
    ("PCX", "PCX"), ("SGI", "SGI"), ("EPS", "EPS"), ("JPEG", "JPEG"), ("GIF", "GIF"),
])
def test_other_formats_named_png_are_refused_naming_the_file(fmt, shown_as):
    with pytest.raises(DataError, match=r"1 file\(s\) are not readable images: x.png") as e:
        load_user_data(zip_bytes({**GOOD, "x.png": saved(fmt)}), "u.zip")
    if shown_as:
        assert f"x.png (holds {shown_as}, not PNG)" in str(e.value)
    assert "aeviz opens only PNG, JPEG, GIF, BMP and WebP files" in str(e.value)


def test_each_supported_format_opens_only_under_its_own_suffix():
    jpeg = saved("JPEG", "RGB", color=(200, 10, 10))
    ds = load_user_data(zip_bytes({"a.jpg": jpeg, "b.JPEG": jpeg, "c.gif": saved("GIF"),
                                   "d.bmp": saved("BMP"), "e.webp": saved("WEBP", lossless=True),
                                   "f.png": saved("PNG")}), "u.zip")
    assert len(ds.x_train) + len(ds.x_test) == 6
    with pytest.raises(ImageRefused, match=r"x.webp is not a readable image \(holds JPEG, not WEBP\)"):
        open_image(jpeg, "x.webp")
    with pytest.raises(ImageRefused, match="x.pdf is not a readable image .*.pdf is not an image type"):
        open_image(jpeg, "x.pdf")


def test_pillow_is_never_asked_to_guess_a_format(monkeypatch):
    calls = []
    real_open = Image.open

    def spy(fp, mode="r", formats=None):
        calls.append(formats)
        return real_open(fp, mode, formats)
    monkeypatch.setattr(Image, "open", spy)
    files = {**GOOD, "c/x.png": saved("EPS"), "c/y.png": saved("TGA"), "c/z.png": b"junk"}
    with pytest.raises(DataError, match="x.png"):
        load_user_data(zip_bytes(files), "u.zip")
    assert calls and all(f is not None and set(f) <= {"PNG", "JPEG", "GIF", "BMP", "WEBP"} for f in calls)


@pytest.fixture
def fake_ghostscript(tmp_path, monkeypatch):
    """A 'gs' first on PATH that leaves a marker file when anything runs it."""
    marker = tmp_path / "gs-ran"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    gs.chmod(gs.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{gs.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)      # look for gs again
    return marker


def test_eps_named_png_never_starts_ghostscript(fake_ghostscript):
    with pytest.raises(DataError, match=r"x.png \(holds EPS, not PNG\)"):
        load_user_data(zip_bytes({**GOOD, "cats/x.png": saved("EPS")}), "u.zip")
    assert not fake_ghostscript.exists(), "Ghostscript ran on an uploaded file"


def test_image_types_aeviz_does_not_open_are_named_not_skipped(tmp_path):
    files = {**GOOD, "scan.tif": saved("TIFF"), "p.ppm": saved("PPM"), "notes.txt": b"ignored"}
    with pytest.raises(DataError, match="2 image file.* aeviz does not open: p.ppm, scan.tif; convert"):
        load_user_data(zip_bytes(files), "u.zip")
    for name, blob in files.items():
        (tmp_path / name).write_bytes(blob)
    with pytest.raises(DataError, match="p.ppm, scan.tif"):
        load_user_data(tmp_path, "folder")


# ---------------------------------------------------------------- decoding budget

def test_header_pass_decodes_no_pixels_even_for_palettes(monkeypatch):
    red, grey = Image.new("P", (6, 6)), Image.new("P", (6, 6))
    red.putpalette([0, 0, 0, 255, 0, 0])
    grey.putpalette([0, 0, 0, 90, 90, 90])
    blobs = {}
    for name, im in (("red.png", red), ("grey.gif", grey), ("grey.png", grey)):
        buf = io.BytesIO()
        im.save(buf, name.split(".")[1])
        blobs[name] = buf.getvalue()

    def no_decoding(self):
        raise AssertionError("pixels decoded while reading headers")
    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    assert images._headers([("red.png", blobs["red.png"])])[1:] == (True, {})
    assert images._headers([(n, blobs[n]) for n in ("grey.gif", "grey.png")])[1:] == (False, {})


def big_constant_png(width: int, height: int) -> bytes:
    return saved("PNG", "1", (width, height), 1)       # 4096x4096 in ~2 kB


def test_total_pixels_are_budgeted_before_any_image_is_decoded(monkeypatch):
    side = 4096                                           # each image is at the per-image limit
    assert side * side == limits.IMAGE_MAX_SOURCE_PIXELS
    n = limits.UPLOAD_MAX_TOTAL_PIXELS // (side * side)
    assert n * side * side == limits.UPLOAD_MAX_TOTAL_PIXELS
    big = big_constant_png(side, side)
    decoded = []

    def fake_decode(blob, name, mode, w, h):              # counts calls; real decoding costs ~0.3 s
        decoded.append(name)
        return np.zeros((len(mode), h, w), np.uint8)
    monkeypatch.setattr(images, "_decode", fake_decode)
    files = {f"{i:02}.png": big for i in range(n)}
    ds = load_user_data(zip_bytes(files), "u.zip")             # exactly at the limit: accepted
    assert len(decoded) == n and ds.sample_shape == (1, 64, 64)
    decoded.clear()
    files["one-more-pixel.png"] = big_constant_png(1, 1)
    with pytest.raises(DataError, match=f"{n + 1} images hold {limits.UPLOAD_MAX_TOTAL_PIXELS + 1:,} "
                                        f"pixels in all; the limit for one upload is "
                                        f"{limits.UPLOAD_MAX_TOTAL_PIXELS:,}"):
        load_user_data(zip_bytes(files), "u.zip")
    assert decoded == []


def test_pixel_bombs_are_refused_in_well_under_a_second():
    """The reported attack: many tiny lossless WebP files of 4096x4096 (0.4-0.6 s each to decode)."""
    import time
    bomb = saved("WEBP", "RGB", (4096, 4096), (10, 20, 30), lossless=True)
    assert len(bomb) < 2000
    files = {f"{i}.webp": bomb for i in range(limits.UPLOAD_MAX_TOTAL_PIXELS // 4096 ** 2 + 1)}
    start = time.perf_counter()
    with pytest.raises(DataError, match="pixels in all"):
        load_user_data(zip_bytes(files), "u.zip")
    assert time.perf_counter() - start < 1.0
