import numpy as np
import pytest

from aeviz.core.errors import DataError
from aeviz.render.images import (filmstrip, gif_bytes, image_grid, is_image_shape, png_bytes, read_png,
                           to_uint8, upscale)


def _batch(n=5, c=1, h=4, w=3):
    return np.random.default_rng(0).random((n, c, h, w), dtype=np.float32)


def test_to_uint8_layouts_and_clipping():
    grey = to_uint8(_batch())
    assert grey.shape == (5, 4, 3) and grey.dtype == np.uint8
    assert to_uint8(_batch(c=3)).shape == (5, 4, 3, 3)
    clipped = to_uint8(np.array([[[[-1.0, 0.5, 2.0]]]]))
    assert clipped.tolist() == [[[0, 128, 255]]]
    assert to_uint8(np.ones((4, 4))).shape == (1, 4, 4)
    frames = np.zeros((3, 4, 4), np.uint8)            # uint8 frames pass through, even N=3
    assert to_uint8(frames) is frames
    for bad in (np.zeros(5), np.zeros((5, 2, 3, 4))):        # vectors; 2-channel images
        with pytest.raises(DataError, match="Vector datasets"):
            to_uint8(bad)


def test_is_image_shape():
    assert is_image_shape((1, 8, 8)) and is_image_shape((3, 32, 32)) and is_image_shape((28, 20))
    assert not is_image_shape((3,)) and not is_image_shape((2, 8, 8))


def test_grid_layout_and_padding():
    imgs = np.stack([np.full((1, 2, 2), v / 10, np.float32) for v in range(5)])
    g = image_grid(imgs, n_cols=3, pad=1, pad_value=255)
    assert g.shape == (2 * 2 + 3, 3 * 2 + 4)
    assert g[1, 1] == to_uint8(imgs[:1])[0, 0, 0]               # first cell top-left
    assert g[4, 4] == to_uint8(imgs[4:5])[0, 0, 0]              # index 4 -> row 1, col 1
    assert (g[4:6, 7:9] == 255).all()                           # empty last cell
    strip = filmstrip(imgs, pad=0, scale=2)
    assert strip.shape == (4, 5 * 4)


def test_upscale_nearest():
    f = np.arange(4, dtype=np.uint8).reshape(1, 2, 2)
    assert upscale(f, 2)[0].tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def test_png_round_trip():
    g = image_grid(_batch(c=3), scale=3)
    np.testing.assert_array_equal(read_png(png_bytes(g)), g)
    one = png_bytes(_batch()[0])                                # a single (C, H, W) float image
    assert read_png(one).shape == (4, 3)
    with pytest.raises(DataError, match="one picture"):
        png_bytes(_batch())


def test_gif_has_all_frames():
    from PIL import Image
    import io
    data = gif_bytes(_batch(n=4), scale=2, bounce=True)
    im = Image.open(io.BytesIO(data))
    assert im.format == "GIF" and im.size == (6, 8) and im.n_frames == 4 + 2


def test_read_png_opens_only_png():
    """Any other format (EPS would start Ghostscript) is refused, not decoded."""
    import io

    from PIL import Image
    for fmt in ("JPEG", "GIF", "EPS", "TGA"):
        buf = io.BytesIO()
        Image.new("L", (4, 4), 7).save(buf, fmt)
        with pytest.raises(DataError, match="not a readable PNG image"):
            read_png(buf.getvalue())
