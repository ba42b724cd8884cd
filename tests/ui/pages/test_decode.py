"""AppTest of the Decode anywhere page, reaching states by seeding session state."""
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from aeviz.models.checkpoint import load_checkpoint
from aeviz.data.registry import load_dataset
from aeviz.latent.trust import DataDistance
from aeviz.core.paths import user_models_dir
from aeviz.ui import state
from conftest import page_app

PAGE = str(Path(__file__).resolve().parents[3] / "aeviz" / "ui" / "pages" / "decode.py")


@pytest.fixture
def app() -> AppTest:
    return page_app("decode")


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_clicked_place_on_a_2d_latent_map_is_decoded_exactly(app):
    app.session_state["aeviz.decode.point"] = [0.4, -0.7]
    app.session_state["aeviz.decode.region"] = [[-1.0, 1.0], [-2.0, 2.0]]
    app.run()
    _ok(app)
    # the trust shown is the distance of the code (0.4, -0.7) itself to the real codes
    codes = load_checkpoint(user_models_dir() / "tiny-ae2").model.encode_numpy(load_dataset("digits").x_test)
    want = DataDistance(random_state=0).fit(codes).ratio(np.array([[0.4, -0.7]]))[0]
    assert app.metric[0].value == f"{want:.2f} × typical spacing"
    assert app.number_input(key="_w.decode.x").value == pytest.approx(0.4)
    assert any("x -1.00..1.00, y -2.00..2.00 of the latent plane" in c.value for c in app.caption)
    # a typed coordinate moves the decoded place
    app.number_input(key="_w.decode.x").set_value(0.1).run()
    assert app.session_state["aeviz.decode.point"] == [pytest.approx(0.1), pytest.approx(-0.7)]


def test_sliders_traversal_and_arithmetic_panels(app):
    app.run()
    _ok(app)
    dims = [s for s in app.slider if s.key and s.key.startswith("_w.decode.dim")]
    assert len(dims) == 2
    app.slider(key="_w.decode.tsteps").set_value(5).run()
    traversal = [im for im in app.image if im.captions and "rows: z0 .. z1" in im.captions[0]]
    assert len(traversal) == 1
    alphas = [im.captions[0] for im in app.image if im.captions and im.captions[0].startswith("alpha")]
    assert alphas[0] == "alpha 0.00" and len(alphas) == 7


def test_higher_dimensional_model_goes_through_the_inverse(app):
    app.session_state[state.EXPLORE_MODEL] = "user:tiny-vae4"
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    _ok(app)
    assert app.metric and any("Round trip" in c.value for c in app.caption)
    assert len([s for s in app.slider if s.key and s.key.startswith("_w.decode.dim")]) == 4


def test_sliders_start_at_a_new_decoded_place_and_reset_goes_back_to_it(app):
    app.session_state["aeviz.decode.point"] = [0.4, -0.7]
    app.run()
    app.slider(key="_w.decode.dim0").set_value(app.slider(key="_w.decode.dim0").min).run()
    assert app.slider(key="_w.decode.dim0").value != pytest.approx(0.4)
    app.button(key="_w.decode.reset").click().run()
    _ok(app)
    assert app.slider(key="_w.decode.dim0").value == pytest.approx(0.4)
    app.number_input(key="_w.decode.y").set_value(0.25).run()          # a new place moves them
    assert app.slider(key="_w.decode.dim1").value == pytest.approx(0.25)
