"""AppTest of the Export page: immediate CSV/checkpoint downloads and the prepared bundle."""
import math
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from aeviz.models.checkpoint import load_checkpoint
from aeviz.render.export import csv_to_table, kaleido_available
from aeviz.render.images import read_png
from aeviz.ui import state
from conftest import page_app

PAGE = str(Path(__file__).resolve().parents[3] / "aeviz" / "ui" / "pages" / "export.py")
PREPARED = "aeviz.export.prepared"


@pytest.fixture
def app() -> AppTest:
    return page_app("export")


def test_downloads_and_prepared_bundle(app, tmp_path):
    app.run()
    assert not app.exception and not app.error
    assert [b.label for b in app.get("download_button")] == ["Download CSV"]    # the zip waits for a click
    app.button(key="_w.export.prepare").click().run()
    assert not app.exception and not app.error
    labels = [b.label for b in app.get("download_button")]
    assert labels[1:] == ["Parquet", "Map (PNG)" if kaleido_available() else "Map (HTML)",
                          "Projector bundle (.zip)", "Everything (.zip)"]
    files = app.session_state[PREPARED]["files"]
    # the table holds the test split: 360 digits, 2 code dimensions, map = latent plane
    table = csv_to_table(files["embeddings.csv"])
    assert len(table["index"]) == 360 and np.allclose(table["x"], table["z0"])
    meta = files["projector/metadata.tsv"].decode().splitlines()
    assert meta[0] == "index\tlabel\tclass" and len(meta) == 361
    assert len(files["projector/vectors.tsv"].decode().splitlines()) == 360
    side = math.ceil(math.sqrt(360)) * 32                      # 8x8 digits -> 32 px thumbnails
    assert read_png(files["projector/sprite.png"]).shape == (side, side)
    assert "single_image_dim: 32" in files["projector/projector_config.pbtxt"].decode()
    # the checkpoint inside the bundle loads
    for name, data in files.items():
        if name.startswith("checkpoint/"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes(data)
    assert load_checkpoint(tmp_path / "checkpoint" / "tiny-ae2").config.latent_dim == 2
    if not kaleido_available():
        assert any("kaleido" in i.value for i in app.info)


def test_in_memory_model_is_saved_for_download(app):
    app.session_state[state.EXPLORE_MODEL] = "pca:digits-2"
    app.run()
    assert not app.exception and not app.error
    assert any("PCA" in c.value and "KB" in c.value for c in app.caption)
    app.session_state[state.PROJECTION] = "pca"
    app.run()
    assert not app.exception and not app.error
