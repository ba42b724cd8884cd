"""Session state: idempotent init, typed accessors, endpoint validation (run inside AppTest)."""
from streamlit.testing.v1 import AppTest

from aeviz.ui import state


def _run(body: str, **seed) -> AppTest:
    at = AppTest.from_string(body, default_timeout=30)
    for k, v in seed.items():
        at.session_state[k] = v
    return at.run()


INIT_TWICE = """
import streamlit as st
from aeviz.ui import state
state.init()
state.set_selection([5, 3, 5])
state.init()
st.write(repr(state.selection()))
st.write(repr(state.compare_models()))
"""


def test_init_is_idempotent_and_keeps_values():
    at = _run(INIT_TWICE)
    assert not at.exception
    assert at.markdown[0].value == "[3, 5]"                      # sorted, deduplicated, kept by init
    assert at.markdown[1].value == repr(state.DEFAULT_COMPARE)
    # defaults are copies: mutating one session's list cannot touch DEFAULTS
    assert at.session_state[state.COMPARE_MODELS] is not state.DEFAULTS[state.COMPARE_MODELS]


def test_seeded_state_is_not_overwritten():
    at = _run(INIT_TWICE, **{state.DATASET: "moons", state.COMPARE_MODELS: ["pca:moons-2"]})
    assert at.session_state[state.DATASET] == "moons"
    assert at.markdown[1].value == "['pca:moons-2']"


ENDPOINTS = """
import numpy as np
import streamlit as st
from aeviz.ui import state
state.init()
st.write(repr(state.endpoints(10, np.array([4, 4, 4, 1, 2, 2, 2, 2, 2, 2]))))
"""


def test_unset_endpoints_pick_two_classes():
    at = _run(ENDPOINTS)
    assert at.markdown[0].value == "(0, 3)"
    assert not at.warning


def test_out_of_range_endpoints_are_replaced_with_a_warning():
    at = _run(ENDPOINTS, **{state.ENDPOINTS: [2, 50]})
    assert at.markdown[0].value == "(0, 3)"
    assert "not in this split" in at.warning[0].value


def test_valid_endpoints_are_kept():
    at = _run(ENDPOINTS, **{state.ENDPOINTS: [7, 2]})
    assert at.markdown[0].value == "(7, 2)"


QUERY = """
import streamlit as st
from aeviz.ui import query, state
query.init()
st.write(state.dataset(), state.projection()[0], repr(state.get(state.ENDPOINTS)))
"""


def test_page_init_applies_the_query_string_once_and_warns_about_bad_values():
    at = AppTest.from_string(QUERY, default_timeout=30)
    at.query_params["dataset"] = "moons"
    at.query_params["proj"] = "pca"
    at.query_params["a"] = "4"
    at.query_params["b"] = "9"
    at.query_params["models"] = "pretrained:../../etc"
    at.run()
    assert not at.exception
    assert at.markdown[0].value == "moons pca [4, 9]"
    assert len(at.warning) == 1 and "models" in at.warning[0].value
    at.session_state[state.DATASET] = "digits"
    at.run()                                      # second run: the link is not re-applied
    assert at.markdown[0].value.startswith("digits")
    assert not at.warning


def test_set_dataset_clears_selection():
    body = """
from aeviz.ui import state
import streamlit as st
state.init()
state.set_selection([1, 2])
state.set_endpoints(1, 2)
state.set_dataset("moons")
st.write(repr(state.selection()), repr(state.get(state.ENDPOINTS)))
"""
    at = _run(body)
    assert at.markdown[0].value == "[] []"


def _session_dir_script():
    import streamlit as st

    from aeviz.ui import sources, state
    state.init()
    st.write(str(sources.session_dir()))


def test_session_upload_folder_is_removed_with_the_session():
    import gc
    from pathlib import Path

    from streamlit.testing.v1 import AppTest
    at = AppTest.from_function(_session_dir_script).run()
    folder = Path(at.markdown[0].value)
    assert folder.is_dir() and folder.name.startswith("aeviz-session-")
    (folder / "upload.bin").write_bytes(b"x" * 1000)
    assert Path(at.run().markdown[0].value) == folder            # stable across reruns
    del at
    gc.collect()
    assert not folder.exists()


KEEP = """
import streamlit as st
from aeviz.ui import state
state.keep_widgets("_w.k.", skip=("_w.k.go",))
if st.session_state.get("shown", True):                # False: as if another page ran
    st.number_input("n", 0, 10, 3, key="_w.k.n")
    st.selectbox("s", ["a", "b"], key="_w.k.s")
    st.button("go", key="_w.k.go")
"""


def test_kept_widgets_get_their_values_back_after_runs_that_did_not_draw_them():
    at = AppTest.from_string(KEEP, default_timeout=30).run()
    at.number_input(key="_w.k.n").set_value(7)
    at.selectbox(key="_w.k.s").set_value("b").run()
    at.button(key="_w.k.go").click().run()               # a button's value is not kept (Streamlit refuses it)
    at.session_state["shown"] = False
    at.run()
    at.session_state["shown"] = True
    at.run()
    assert not at.exception
    assert at.number_input(key="_w.k.n").value == 7 and at.selectbox(key="_w.k.s").value == "b"
