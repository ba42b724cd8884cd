"""Shared widgets in AppTest: this session's uploads are listed by name, and Remove frees them."""
import zipfile

from streamlit.testing.v1 import AppTest

from aeviz.ui import state
from aeviz.ui.text import plain
from conftest import tiny_checkpoint, zip_bytes

UPLOADS = """
import streamlit as st
from aeviz.ui import sources, state, widgets
state.init()
if "zip" in st.session_state:
    sources.add_upload(st.session_state.pop("zip"), "[evil](evil.example).zip")
widgets.upload_model()
"""


def test_uploads_are_listed_as_plain_text_and_remove_deletes_them(tmp_path):
    folder = tiny_checkpoint(tmp_path / "m")
    at = AppTest.from_string(UPLOADS, default_timeout=60)
    at.session_state["zip"] = zip_bytes({f"m/{p.name}": p.read_bytes() for p in folder.iterdir()},
                                        zipfile.ZIP_STORED)
    at.run()
    assert not at.exception and not at.error
    (model_id,) = at.session_state[state.UPLOADS]
    assert [c.value for c in at.caption] == [plain("[evil](evil.example).zip · ae-2")]
    at.button(key=f"_w.remove.{model_id}").click().run()
    assert not at.exception and not at.session_state[state.UPLOADS] and not at.caption


SAMPLES = """
import numpy as np
from aeviz.ui import widgets
x = np.random.default_rng(0).random((3, 2)).astype(np.float32)
widgets.show_samples(x, caption="points")
widgets.show_samples(x, caption="points")          # the same points twice in one run
widgets.show_samples(np.random.default_rng(1).random((2, 6)), caption="wider")
widgets.show_samples(np.random.default_rng(2).random((2, 1, 8, 8)), caption="images")
"""


def test_vector_samples_are_plots_not_tables_even_twice_in_one_run():
    import json
    at = AppTest.from_string(SAMPLES, default_timeout=60).run()
    assert not at.exception and not at.dataframe
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert [len(s["data"]) for s in specs] == [1, 1, 2]          # a scatter, the same again, a line each
    assert [c.value for c in at.caption] == ["points", "points", "wider"] and len(at.image) == 1
