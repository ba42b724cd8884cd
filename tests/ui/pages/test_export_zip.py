"""The Export page zips a checkpoint once, on request: a rerun neither re-reads nor re-zips it."""
import os

import pytest

import aeviz.render.export as export
from aeviz.core.paths import user_models_dir
from conftest import page_app


@pytest.fixture
def counted(monkeypatch):
    """Calls of the two costly steps (the page imports them from aeviz.render.export on each run)."""
    calls = {"folder_files": 0, "zip_bytes": 0}
    for name in calls:
        real = getattr(export, name)

        def counting(*a, _real=real, _name=name, **kw):
            calls[_name] += 1
            return _real(*a, **kw)
        monkeypatch.setattr(export, name, counting)
    return calls


def test_checkpoint_zip_is_built_once_on_request_and_again_only_when_files_change(counted):
    app = page_app("export")
    app.run()
    assert not app.exception and not app.error
    assert counted == {"folder_files": 0, "zip_bytes": 0}        # nothing read before the click
    assert "Download checkpoint (.zip)" not in [b.label for b in app.get("download_button")]
    app.button(key="_w.export.ckpt_prepare").click().run()
    assert counted == {"folder_files": 1, "zip_bytes": 1}
    assert "Download checkpoint (.zip)" in [b.label for b in app.get("download_button")]
    app.run()
    app.run()                                                    # plain reruns: served from the cache
    assert counted == {"folder_files": 1, "zip_bytes": 1}
    assert "Download checkpoint (.zip)" in [b.label for b in app.get("download_button")]
    history = user_models_dir() / "tiny-ae2" / "history.json"
    stamp = history.stat().st_mtime_ns + 10**9
    os.utime(history, ns=(stamp, stamp))                         # a changed file: prepare again
    app.run()
    assert "Download checkpoint (.zip)" not in [b.label for b in app.get("download_button")]
    assert counted == {"folder_files": 1, "zip_bytes": 1}
