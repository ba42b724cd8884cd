"""The Explore page in Streamlit's AppTest: map, selection details, VAE views, uploads."""
import base64
import json
import zipfile
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from aeviz.ui import state
from aeviz.ui.text import plain
from conftest import zip_bytes

APP = str(Path(__file__).resolve().parents[3] / "app.py")
PAGE = "aeviz/ui/pages/explore.py"
TIMEOUT = 240


def _explore(**seed) -> AppTest:
    """Explore on the 8x8 digits (small and fast; the offline default is the 28x28 MNIST subset)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    seed.setdefault(state.DATASET, "digits")
    for k, v in seed.items():
        at.session_state[k] = v
    return at.switch_page(PAGE).run()


def _arr(v) -> np.ndarray:
    """Plotly 7 sends numeric arrays as {"bdata": base64, "dtype": ...}."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v)


def _traces(at: AppTest) -> list[dict]:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["data"]


def test_default_view_draws_one_map_and_asks_for_a_click():
    at = _explore()
    assert not at.exception, at.exception
    assert at.title[0].value == "Explore a latent space"
    assert len(at.get("plotly_chart")) == 1
    assert any("Click a point" in i.value for i in at.info)
    assert at.session_state[state.EXPLORE_MODEL] == "pretrained:digits-vae-2"


def test_selected_point_shows_input_reconstruction_and_neighbours():
    at = _explore(**{state.SELECTION: [5]})
    assert not at.exception, at.exception
    assert at.subheader[0].value.startswith("Point #5:")
    captions = [c for img in at.image for c in img.captions]
    assert "input" in captions and "reconstruction" in captions
    assert any("nearest codes share its label" in c.value for c in at.caption)


def test_many_selected_points_show_as_grids_of_inputs_and_reconstructions():
    at = _explore(**{state.SELECTION: [2, 7, 11]})
    assert not at.exception, at.exception
    assert at.subheader[0].value == "3 points selected"
    grids = {c: img.value for img in at.image for c in img.captions}
    assert set(grids) == {"3 inputs", "3 reconstructions"}            # no single-point detail
    assert not any("nearest codes" in c.value for c in at.caption)


def test_the_grid_is_bounded_and_says_how_many_it_shows():
    at = _explore(**{state.SELECTION: list(range(100))})
    assert not at.exception, at.exception
    assert at.subheader[0].value == "100 points selected"
    assert any(c.value.startswith("Showing the first 64 (by index)") for c in at.caption)
    assert {c for img in at.image for c in img.captions} == {"64 inputs", "64 reconstructions"}


def test_clear_selection_empties_it():
    at = _explore(**{state.SELECTION: [5]})
    at.button(key="_w.clear_selection").click().run()
    assert not at.exception, at.exception
    assert at.session_state[state.SELECTION] == []
    assert any("Click a point" in i.value for i in at.info)


def test_colour_by_error_and_posterior_cloud_for_a_vae():
    at = _explore(**{state.SELECTION: [3, 4], state.COLOR_BY: "error", state.VAE_CODES: "cloud"})
    assert not at.exception, at.exception
    traces = _traces(at)
    assert traces[0]["marker"]["colorbar"]["title"]["text"] == "squared error"
    cloud = [t for t in traces if t.get("name") == "posterior samples"]
    assert len(cloud) == 1 and len(_arr(cloud[0]["x"])) == 40 * 2       # 40 draws for each selected point


def test_the_prior_can_be_drawn_over_the_codes_of_a_model_that_has_one():
    at = _explore()                                        # digits-vae-2: its prior is N(0, I)
    at.checkbox(key="_w.explore.prior").check().run()
    assert not at.exception, at.exception
    draws = [t for t in _traces(at) if t.get("name") == "prior draws"]
    assert len(draws) == 1 and len(_arr(draws[0]["x"])) == 1000
    x, y = _arr(draws[0]["x"]), _arr(draws[0]["y"])        # a 2-D VAE's map is its latent plane
    assert abs(float(np.std(x)) - 1) < 0.1 and abs(float(np.std(y)) - 1) < 0.1


def test_one_sampled_code_per_point_moves_the_points():
    mean = _traces(_explore(**{state.COLOR_BY: "variance"}))[0]
    sampled = _traces(_explore(**{state.COLOR_BY: "variance", state.VAE_CODES: "sample"}))[0]
    assert len(_arr(mean["x"])) == len(_arr(sampled["x"])) == 360
    assert not np.allclose(_arr(mean["x"]), _arr(sampled["x"]))
    assert mean["marker"]["colorbar"]["title"]["text"] == "mean posterior variance"


def test_pca_projection_of_an_8d_model():
    at = _explore(**{state.EXPLORE_MODEL: "pretrained:digits-ae-8", state.PROJECTION: "pca"})
    assert not at.exception, at.exception
    assert not at.error
    assert "pca projection" in " ".join(c.value for c in at.caption)
    assert not [r for r in at.radio if r.label == "VAE codes"]        # an AE has no posterior


UPLOAD = """
import streamlit as st
from aeviz.ui import sources, state, widgets
state.init()
with widgets.guard("Upload refused: "):
    model_id = sources.add_upload(st.session_state["zip"], "model.zip")
    st.write(model_id)
    st.write(repr(model_id in sources.list_models("digits", (1, 8, 8))))
"""


def _zip(files: dict[str, bytes]) -> bytes:
    return zip_bytes(files, zipfile.ZIP_STORED)


def test_uploaded_checkpoint_zip_is_loaded_into_this_session_only(tmp_path):
    from aeviz.models.checkpoint import save_checkpoint
    from aeviz.models.config import ModelConfig
    from aeviz.models.families import build
    folder = save_checkpoint(tmp_path / "mine", build(ModelConfig(family="ae", input_shape=(1, 8, 8),
                                                                    latent_dim=2, hidden=(8,))))
    data = _zip({f"mine/{p.name}": p.read_bytes() for p in folder.iterdir()})
    at = AppTest.from_string(UPLOAD, default_timeout=60)
    at.session_state["zip"] = data
    at.run()
    assert not at.exception and not at.error, at.error
    model_id = at.markdown[0].value
    assert model_id.startswith("upload:") and at.markdown[1].value == "True"
    other = AppTest.from_string("from aeviz.ui import sources, state\nimport streamlit as st\n"
                                "state.init()\nst.write(repr(sources.list_models('digits', (1, 8, 8))))")
    assert model_id not in other.run().markdown[0].value        # another session never sees it


def test_a_malicious_zip_is_refused_with_a_message():
    at = AppTest.from_string(UPLOAD, default_timeout=60)
    at.session_state["zip"] = _zip({"../../evil/config.json": b"{}"})
    at.run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith(plain("Upload refused:"))     # shown as plain text
