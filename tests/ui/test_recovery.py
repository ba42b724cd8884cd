"""The app puts back user models whose save was killed between its two renames, and says so."""
import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

from aeviz.core.paths import user_models_dir
from aeviz.ui.text import plain
from conftest import PAGES, tiny_checkpoint


def _interrupted(name: str) -> Path:
    """A models folder where ``name`` exists only as the hidden copy a killed swap leaves."""
    hidden = user_models_dir() / f".{name}.old-123"
    tiny_checkpoint(user_models_dir() / "_src" / name)
    os.replace(user_models_dir() / "_src" / name, hidden)
    return user_models_dir() / name


def _listing() -> None:
    import streamlit as st
    from aeviz.ui import sources, state
    state.init()
    st.write(" ".join(sources.list_models("digits", (1, 8, 8))))


def test_list_models_recovers_an_interrupted_save_visibly():
    path = _interrupted("lost-model")
    at = AppTest.from_function(_listing, default_timeout=60).run()
    assert not at.exception
    assert "user:lost-model" in at.markdown[-1].value.split()
    assert any(plain("lost-model") in w.value and "interrupted save" in w.value for w in at.warning)
    assert (path / "config.json").is_file() and not list(user_models_dir().glob(".lost-model.old-*"))
    at.run()                                         # put back once: no notice on the next rerun
    assert not at.warning and "user:lost-model" in at.markdown[-1].value.split()


def test_the_train_page_lists_a_recovered_model():
    _interrupted("lost-trained")
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    assert not at.exception
    assert any(plain("lost-trained") in w.value for w in at.warning)
    assert any("lost-trained" in m.value for m in at.markdown)
