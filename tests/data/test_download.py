import hashlib
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

import aeviz.data.download as dl
from aeviz.data.download import DownloadError, download, verify_file
from aeviz.core.errors import DataError

PAYLOAD = np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves server.files; can cut a body short (server.cut) or ignore Range (server.no_range)."""

    def do_GET(self):
        srv = self.server
        srv.log.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and self.path not in srv.no_range:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        cut = srv.cut.pop(self.path, None)        # cut only the next response
        self.wfile.write(body[start:cut])
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.cut, srv.no_range, srv.log = {"/f.bin": PAYLOAD}, {}, set(), []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_success_with_progress(server, tmp_path):
    seen = []
    dest = download([server.url + "/f.bin"], tmp_path / "sub" / "f.bin", MD5,
                    progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == PAYLOAD
    assert not (tmp_path / "sub" / "f.bin.part").exists()
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert (tmp_path / "sub" / "f.bin.verified").exists()


def test_bad_md5_rejected_and_nothing_left(server, tmp_path):
    with pytest.raises(DownloadError, match="MD5 .* does not match"):
        download([server.url + "/f.bin"], tmp_path / "f.bin", "0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_transfer_keeps_part_then_resumes(server, tmp_path):
    server.cut["/f.bin"] = 20_000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="20,000 of 50,000 bytes.*kept and resumed"):
        download([server.url + "/f.bin"], dest, MD5)
    assert not dest.exists()
    assert (tmp_path / "f.bin.part").stat().st_size == 20_000
    assert download([server.url + "/f.bin"], dest, MD5).read_bytes() == PAYLOAD
    assert server.log[-1] == ("/f.bin", "bytes=20000-")
    assert not (tmp_path / "f.bin.part").exists()


def test_interrupted_then_restart_when_range_unsupported(server, tmp_path):
    server.cut["/f.bin"], server.no_range = 1_000, {"/f.bin"}
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError):
        download([server.url + "/f.bin"], dest, MD5)
    assert download([server.url + "/f.bin"], dest, MD5).read_bytes() == PAYLOAD


def test_stale_part_from_other_version_is_restarted(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(b"x" * 100)     # not a prefix of PAYLOAD
    dest = download([server.url + "/f.bin"], tmp_path / "f.bin", MD5)
    assert dest.read_bytes() == PAYLOAD
    assert [r for _, r in server.log] == ["bytes=100-", None]


def test_falls_through_to_second_mirror(server, tmp_path):
    server.files["/wrong.bin"] = b"not the file"
    urls = [server.url + "/missing.bin", server.url + "/wrong.bin", server.url + "/f.bin"]
    assert download(urls, tmp_path / "f.bin", MD5).read_bytes() == PAYLOAD
    assert [p for p, _ in server.log] == ["/missing.bin", "/wrong.bin", "/f.bin"]


def test_offline_gives_clear_error(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/f.bin"
    with pytest.raises(DataError, match="could not download f.bin: .*cannot connect.*offline"):
        download([url], tmp_path / "f.bin", MD5, timeout=5)
    assert not (tmp_path / "f.bin").exists()


def test_unwritable_folder_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("I am a file, not a folder")
    with pytest.raises(DataError, match=f"cannot write to {blocker}.*AEVIZ_CACHE_DIR"):
        download(["http://127.0.0.1:1/f.bin"], blocker / "f.bin", MD5)


def test_size_limit(server, tmp_path):
    with pytest.raises(DownloadError, match="over the 1,000-byte limit"):
        download([server.url + "/f.bin"], tmp_path / "f.bin", MD5, max_bytes=1_000)
    assert not (tmp_path / "f.bin").exists()


def test_existing_file_is_verified(tmp_path):
    dest = tmp_path / "f.bin"
    dest.write_bytes(PAYLOAD[:-1])          # truncated copy placed by hand
    with pytest.raises(DataError, match="truncated/corrupt .*delete it"):
        download(["http://127.0.0.1:1/f.bin"], dest, MD5)
    dest.write_bytes(PAYLOAD)
    assert download(["http://127.0.0.1:1/f.bin"], dest, MD5) == dest   # no network needed


def test_verify_never_writes_into_user_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "f.bin"
    path.write_bytes(PAYLOAD)
    verify_file(path, MD5)
    assert list((tmp_path / "data").iterdir()) == [path]


def rewrite_in_place(path, data: bytes) -> None:
    """Overwrite ``path``'s bytes (same inode) and put its size and mtime back as they were."""
    st = path.stat()
    assert len(data) == st.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_verify_hashes_once_per_process_and_file_version(tmp_path, monkeypatch):
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(tmp_path))
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    verify_file(path, MD5)
    assert (tmp_path / "f.bin.verified").exists()
    hashed = []
    monkeypatch.setattr(dl, "md5sum", lambda p: hashed.append(p) or MD5)
    verify_file(path, MD5)                   # same process, same version: free
    assert hashed == []
    dl.forget_verified()                     # a fresh process: the marker does not skip the hash
    verify_file(path, MD5)
    assert hashed == [path]


@pytest.mark.parametrize("fresh_process", [False, True])
def test_rewrite_in_place_with_same_size_and_mtime_is_refused(tmp_path, monkeypatch, fresh_process):
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(tmp_path))
    path = tmp_path / "f.bin"
    path.write_bytes(PAYLOAD)
    verify_file(path, MD5)
    rewrite_in_place(path, PAYLOAD[::-1])
    if fresh_process:
        dl.forget_verified()                 # then only the cache's marker knows it was verified
    with pytest.raises(DataError, match="f.bin was modified after it was verified: MD5 .*"
                                        "delete it so it is downloaded again"):
        verify_file(path, MD5)
