"""Checkpoint uploads of one session: the same model is stored once, quotas, nothing left on refusal."""
import tempfile
import zipfile

import pytest
import streamlit as st

from aeviz.core import limits
from aeviz.core.errors import AevizError, CheckpointError
from aeviz.ui import sources, state
from conftest import tiny_checkpoint, zip_bytes


@pytest.fixture
def session(tmp_path, monkeypatch):
    """A bare session state (no script run) whose session_dir lives under tmp_path."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "sessions"))
    (tmp_path / "sessions").mkdir()
    st.session_state.clear()
    st.session_state[state.UPLOADS] = {}
    yield sources
    st.session_state.clear()


def _model_zip(tmp_path, seed: int = 0, extra: dict | None = None, stored: bool = False) -> bytes:
    folder = tiny_checkpoint(tmp_path / f"m{seed}", seed=seed)
    files = {f"m/{p.name}": p.read_bytes() for p in folder.iterdir()}
    return zip_bytes({**files, **(extra or {})}, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)


def _kept(session) -> list[str]:
    """Everything under the session folder, as relative paths."""
    root = session.session_dir()
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_the_same_model_sent_twice_is_stored_once_and_named_by_file_and_family(tmp_path, session):
    first = session.add_upload(_model_zip(tmp_path), "my_model.zip")
    again = session.add_upload(_model_zip(tmp_path), "my_model.zip")          # the uploader re-sends
    rezipped = session.add_upload(_model_zip(tmp_path, stored=True, extra={"m/notes.bin": b"x" * 5000}),
                                  "copy.zip")
    assert first == again == rezipped and list(state.uploads()) == [first]
    digest = first.split(":", 1)[1]
    saved = sorted(p.name for p in (tmp_path / "m0").iterdir())
    assert _kept(session) == [digest] + [f"{digest}/{name}" for name in saved]   # notes.bin was not kept
    assert sources.model_label(first) == "my_model.zip · ae-2"


@pytest.mark.parametrize("members", [
    {"m/config.json": b"{not json", "m/model.safetensors": b"\0" * 64},         # fails while loading
    {"m/readme.txt": b"no checkpoint here"},                                    # no config.json
])
def test_a_refused_upload_leaves_nothing_in_the_session_folder(session, members):
    with pytest.raises(AevizError):
        session.add_upload(zip_bytes(members), "bad.zip")
    assert _kept(session) == [] and not state.uploads()


def test_the_model_count_quota_names_what_to_do_and_remove_frees_room(tmp_path, session, monkeypatch):
    monkeypatch.setattr(limits, "UPLOAD_SESSION_MAX_MODELS", 2)
    kept = [session.add_upload(_model_zip(tmp_path, seed), f"m{seed}.zip") for seed in (0, 1)]
    before = _kept(session)
    with pytest.raises(CheckpointError, match="holds 2 uploaded models.*remove one"):
        session.add_upload(_model_zip(tmp_path, 2), "m2.zip")
    assert _kept(session) == before
    rezipped = _model_zip(tmp_path, 0, stored=True)                          # other bytes, same model
    assert session.add_upload(rezipped, "m0.zip") == kept[0]                  # a model it has is fine
    session.remove_upload(kept[0])
    assert kept[0] not in state.uploads() and not (session.session_dir() / kept[0][7:]).exists()
    third = session.add_upload(_model_zip(tmp_path, 2), "m2.zip")
    assert list(state.uploads()) == [kept[1], third]


def test_the_byte_quota_refuses_a_model_that_does_not_fit_and_cleans_up(tmp_path, session, monkeypatch):
    first = session.add_upload(_model_zip(tmp_path, 0), "m0.zip")
    one = sum(p.stat().st_size for p in (session.session_dir() / first[7:]).iterdir())
    monkeypatch.setattr(limits, "UPLOAD_SESSION_MAX_BYTES", one + one // 2)
    before = _kept(session)
    with pytest.raises(CheckpointError, match="MB of uploads already.*remove an uploaded model"):
        session.add_upload(_model_zip(tmp_path, 1), "m1.zip")
    assert _kept(session) == before and list(state.uploads()) == [first]


def test_the_server_wide_quota_counts_every_sessions_uploads(tmp_path, session, monkeypatch):
    # another tab (or another person) already keeps most of what the server allows
    other = tmp_path / "sessions" / "aeviz-session-other" / "0123456789abcdef"
    other.mkdir(parents=True)
    with open(other / "model.safetensors", "wb") as f:
        f.truncate(3 * 2**20)                                  # sparse: a size, no disk
    monkeypatch.setattr(limits, "UPLOAD_SERVER_MAX_BYTES", 3 * 2**20 + 1000)
    with pytest.raises(CheckpointError, match="for all its sessions.*does not fit right now"):
        session.add_upload(_model_zip(tmp_path), "m0.zip")
    assert _kept(session) == [] and not state.uploads()
    monkeypatch.setattr(limits, "UPLOAD_SERVER_MAX_BYTES", 4 * 2**20)
    assert session.add_upload(_model_zip(tmp_path), "m0.zip") in state.uploads()
