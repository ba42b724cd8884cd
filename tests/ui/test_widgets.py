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
    assert [c.value for c in at.caption] == [plain("upload: [evil](evil.example).zip (ae, 2-D)")]
    at.button(key=f"_w.remove.{model_id}").click().run()
    assert not at.exception and not at.session_state[state.UPLOADS] and not at.caption
