"""Uploaded datasets of one session: a first-class dataset, quotas, refusals shown, private to the session."""
import io
import tempfile

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from aeviz.core import limits
from aeviz.core.errors import DataError
from aeviz.ui import cache, datasets, state
from aeviz.ui.text import plain
from conftest import zip_bytes


def _csv(n: int = 300, seed: int = 0) -> bytes:
    """``n`` seeded 2-D points with a text label column: two classes."""
    pts = np.random.default_rng(seed).normal(size=(n, 2))
    rows = [f"{a:.4f},{b:.4f},{'right' if a > 0 else 'left'}" for a, b in pts]
    return ("x,y,label\n" + "\n".join(rows)).encode()


@pytest.fixture
def session(tmp_path, monkeypatch):
    """A bare session state (no script run) whose session_dir lives under tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "sessions"))
    (tmp_path / "sessions").mkdir()
    st.session_state.clear()
    yield datasets
    st.session_state.clear()


def _files(session) -> list[str]:
    root = session.sources.session_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_an_upload_is_a_dataset_of_this_session_kept_once_and_mapped_read_only(session):
    name = session.add(_csv(), "mydata.csv")
    assert session.add(_csv(), "mydata.csv") == name and session.names() == [name]   # re-sent: kept once
    assert session.is_upload(name) and session.label(name) == "mydata.csv (upload)"
    assert session.stem(name) == "mydata"
    ds = cache.get_dataset(name)                       # the pages' one way to a dataset
    assert (len(ds.x_train), len(ds.x_test)) == (240, 60) and ds.sample_shape == (2,)
    assert ds.class_names == ("left", "right") and not ds.is_image
    assert isinstance(ds.x_train, np.memmap) and not ds.x_train.flags.writeable
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert _files(session) == [".data", f".data/{name[7:]}"] + \
        [f".data/{name[7:]}/{a}.npy" for a in ("x_test", "x_train", "y_test", "y_train")]
    session.remove(name)
    assert session.names() == [] and _files(session) == [".data"]
    with pytest.raises(DataError, match="not in this session.*upload the file again"):
        cache.get_dataset(name)


def test_another_session_cannot_open_it(session):
    name = session.add(_csv(), "mine.csv")
    st.session_state.clear()                           # another browser session: its own state
    with pytest.raises(DataError, match="not in this session"):
        cache.get_dataset(name)
    assert session.label(name) == name                 # no file name of another session's upload


@pytest.mark.parametrize("text", ["digits", "../upload-0123456789abcdef", "upload-0123456789ABCDEF",
                                  "upload-0123", "upload-0123456789abcdef/..", None, 3])
def test_only_digest_names_are_uploads(text):
    assert not datasets.is_upload(text)


def test_the_session_count_and_byte_quotas(session, monkeypatch):
    monkeypatch.setattr(limits, "UPLOAD_SESSION_MAX_DATASETS", 2)
    kept = [session.add(_csv(50, seed), f"d{seed}.csv") for seed in (0, 1)]
    before = _files(session)
    with pytest.raises(DataError, match="already holds 2 uploaded datasets.*remove one"):
        session.add(_csv(50, 2), "d2.csv")
    assert _files(session) == before and session.names() == kept
    session.remove(kept[0])
    monkeypatch.setattr(limits, "UPLOAD_SESSION_MAX_DATA_BYTES", 2000)    # one 50-point upload: ~1.3 kB
    with pytest.raises(DataError, match="MB of uploaded data already.*remove an uploaded dataset"):
        session.add(_csv(50, 2), "d2.csv")
    assert session.names() == [kept[1]] and _files(session) == [p for p in before if kept[0][7:] not in p]


def test_the_server_wide_cap_counts_every_sessions_uploads(session, tmp_path, monkeypatch):
    other = tmp_path / "sessions" / "aeviz-session-other" / ".data" / "0123456789abcdef"
    other.mkdir(parents=True)
    with open(other / "x_train.npy", "wb") as f:
        f.truncate(3 * 2**20)                          # sparse: a size, no disk
    monkeypatch.setattr(limits, "UPLOAD_SERVER_MAX_BYTES", 3 * 2**20 + 1000)
    with pytest.raises(DataError, match="for all its sessions.*does not fit right now"):
        session.add(_csv(), "mydata.csv")
    assert session.names() == [] and _files(session) == []
    monkeypatch.setattr(limits, "UPLOAD_SERVER_MAX_BYTES", 4 * 2**20)
    assert session.add(_csv(), "mydata.csv") in session.names()


# --------------------------------------------------------------------------- the sidebar, in AppTest

PICKER = """
import streamlit as st
from aeviz.ui import query, widgets
query.init()
with st.sidebar:
    name = widgets.dataset_picker()
st.write(f"dataset: {name}")
query.sync_to_url(("dataset", "split"))
"""


def _npz_truncated() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, x=np.random.default_rng(0).random((100, 3)))
    return buf.getvalue()[:400]


HOSTILE = {    # file name, bytes, what the message must say (data.uploads refuses each)
    "truncated npz": ("cut.npz", _npz_truncated(), "cut.npz: not a readable zip archive"),
    "CSV with text": ("words.csv", b"a,b,c\n1,2,3\n4,hello,6\n7,8,9\n", "'hello' is not a number"),
    "too many rows": ("huge.csv", b"v\n" + b"1\n" * (limits.UPLOAD_MAX_ITEMS + 1), "200,000"),
    "zip bomb": ("bomb.zip", zip_bytes({"cats/a.png": b"\0" * (8 * 2**20)}), "bomb.zip: zip member 'cats/a.png' "
                 "inflates more than 200x"),
}


def _app(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    at = AppTest.from_string(PICKER, default_timeout=60)
    return at.run()


def _upload(at, name: str, data: bytes):
    return at.sidebar.file_uploader[0].set_value((name, data, "application/octet-stream")).run()


def test_an_upload_in_the_sidebar_is_listed_picked_and_kept_out_of_the_link(tmp_path, monkeypatch):
    at = _app(tmp_path, monkeypatch)
    assert sorted(at.sidebar.file_uploader[0].allowed_type) == [".csv", ".npy", ".npz", ".zip"]
    _upload(at, "my data.csv", _csv())
    assert not at.exception and not at.error
    (name,) = at.session_state[state.DATA_UPLOADS]
    picker = at.sidebar.selectbox[0]
    assert picker.value == name and picker.options[-1] == "my data.csv (upload)"   # shown by file name
    assert at.markdown[0].value == f"dataset: {name}"
    assert dict(at.query_params) == {"split": "test"}                 # the upload is never in a link
    assert any("300 samples of 2" in c.value for c in at.sidebar.caption)
    # AppTest formats the picker's value in the test thread, outside the session (where an upload has
    # no label): pick a registered dataset before removing the upload
    at.sidebar.selectbox[0].set_value("digits")
    at.sidebar.button(key=f"_w.remove_data.{name}").click().run()
    assert not at.exception and not at.session_state[state.DATA_UPLOADS]
    assert at.sidebar.selectbox[0].value == "digits" and "my data.csv (upload)" not in at.sidebar.selectbox[0].options
    assert not list((tmp_path).glob("aeviz-session-*/.data/*"))          # its files are gone


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_bad_file_is_refused_with_its_message_and_the_session_goes_on(tmp_path, monkeypatch, case):
    filename, data, says = HOSTILE[case]
    at = _app(tmp_path, monkeypatch)
    _upload(at, filename, data)
    assert not at.exception
    assert len(at.sidebar.error) == 1 and at.sidebar.error[0].value.startswith(plain("Upload refused: "))
    assert plain(says) in at.sidebar.error[0].value
    assert not at.session_state[state.DATA_UPLOADS] and at.markdown[0].value == "dataset: digits"
    at.run()                                            # the uploader re-sends it: the same message,
    assert len(at.sidebar.error) == 1 and not at.exception    # not parsed again
    _upload(at, "good.csv", _csv())                     # and the session still takes a good file
    assert not at.exception and not at.error and len(at.session_state[state.DATA_UPLOADS]) == 1


def test_a_file_over_the_byte_limit_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "UPLOAD_MAX_BYTES", 2**20)
    at = _app(tmp_path, monkeypatch)
    _upload(at, "big.csv", b"v\n" + b"1\n" * 600_000)
    assert not at.exception and plain("big.csv is 1.1 MiB; the limit is 1.0 MiB") in at.sidebar.error[0].value
