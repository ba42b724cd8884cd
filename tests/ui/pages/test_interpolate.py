"""AppTest of the Interpolate page, reaching states by seeding session state."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from aeviz.data.registry import load_dataset
from aeviz.ui import state
from aeviz.ui.text import plain
from conftest import page_app

PAGE = str(Path(__file__).resolve().parents[3] / "aeviz" / "ui" / "pages" / "interpolate.py")


@pytest.fixture
def app() -> AppTest:
    return page_app("interpolate")


def _ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_endpoints_by_index_with_via_points_and_the_slider(app):
    app.session_state[state.ENDPOINTS] = [3, 17]
    app.session_state["aeviz.interp.via"] = "5, 9"
    app.run()
    _ok(app)
    assert any("A = #3" in c.value and plain("via #5, #9") in c.value for c in app.caption)
    assert app.query_params["a"] == "3" and app.query_params["b"] == "17"
    strip = app.image[-1]                                  # the filmstrip: 3 segments x 8 steps + 1
    assert len(strip.value) == 25 and strip.captions[0].startswith("0 · 0.0")
    # the last step is B itself, a real code: trust distance 0
    app.slider(key="_w.interp.step").set_value(24).run()
    _ok(app)
    assert app.metric[0].value.startswith("0.00") and app.session_state[state.INTERP_T] == 1.0
    assert app.query_params["t"] == "1"
    assert [b.label for b in app.get("download_button")] == ["Download GIF", "Download PNG strip"]


def test_typed_endpoint_goes_into_state_and_url(app):
    app.run()
    app.number_input(key="_w.interp.b").set_value(42).run()
    _ok(app)
    assert app.session_state[state.ENDPOINTS][1] == 42 and app.query_params["b"] == "42"


def test_class_endpoints_random_members_are_seeded(app):
    app.run()
    app.radio(key="_w.interp.mode").set_value("classes")
    app.run()
    app.selectbox(key="_w.interp.ca").set_value(3)
    app.selectbox(key="_w.interp.cb").set_value(8)
    app.radio(key="_w.interp.how").set_value("member")
    app.run()
    _ok(app)
    a, b = app.session_state[state.ENDPOINTS]
    _, y = load_dataset("digits").split("test")
    assert y[a] == 3 and y[b] == 8
    app.run()
    assert app.session_state[state.ENDPOINTS] == [a, b]          # same seed, same members


def test_class_means_slerp_on_a_4d_vae(app):
    app.session_state[state.EXPLORE_MODEL] = "user:tiny-vae4"
    app.run()
    app.radio(key="_w.interp.mode").set_value("classes")
    app.radio(key="_w.interp.kind").set_value("slerp")
    app.run()
    _ok(app)
    assert any("Class means" in c.value for c in app.caption)
    assert len(app.image[-1].value) == 9


def _tiny_aae(prior: str) -> str:
    from aeviz.core.paths import user_models_dir
    from aeviz.models.checkpoint import save_checkpoint
    from aeviz.models.config import ModelConfig
    from aeviz.training.loop import seeded_model
    cfg = ModelConfig(family="aae", prior=prior, input_shape=(1, 8, 8), hidden=(16,), latent_dim=3)
    save_checkpoint(user_models_dir() / f"tiny-aae-{prior}", seeded_model(cfg, 0), dataset_name="digits")
    return f"user:tiny-aae-{prior}"


def test_a_curved_prior_offers_its_geodesic_first_and_walks_on_the_manifold(app):
    import numpy as np
    app.session_state[state.EXPLORE_MODEL] = _tiny_aae("sphere")
    app.run()
    _ok(app)
    kind = app.radio(key="_w.interp.kind.sphere")
    assert kind.options == ["geodesic of the sphere", "linear", "spherical (slerp)"] and kind.index == 0
    # the flat models keep their own choice and its key
    app.session_state[state.EXPLORE_MODEL] = "user:tiny-ae2"
    app.run()
    assert app.radio(key="_w.interp.kind").options == ["linear", "spherical (slerp)"]
    from aeviz.latent.paths import interpolate
    from aeviz.models.priors import get_prior
    ends = np.array([[1.0, 0, 0], [0, 0.6, 0.8]])
    path = interpolate(ends, 8, "geodesic", get_prior("sphere", 3).geodesic).points
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1, atol=1e-9)
