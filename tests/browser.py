"""The real-browser harness every browser test uses: `streamlit run app.py` on 127.0.0.1 and Debian's
Chromium driven by Playwright.

Skips when Chromium or Playwright is missing, unless AEVIZ_REQUIRE_BROWSER=1 (CI), where that fails.
The server is always killed; every wait is bounded.
"""
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
FIRST_PAINT_S = 240         # generous: a first run without pretrained/ trains two small models
IMAGE_CHANGE_S = 60


def need_browser():
    required = os.environ.get("AEVIZ_REQUIRE_BROWSER") == "1"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if required:
            pytest.fail("playwright is not installed but AEVIZ_REQUIRE_BROWSER=1")
        pytest.skip("playwright is not installed")
    if not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")):
        if required:
            pytest.fail(f"{CHROMIUM} is missing but AEVIZ_REQUIRE_BROWSER=1")
        pytest.skip("Debian's chromium is not installed")
    return sync_playwright


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"streamlit was not healthy within {timeout} s")


@contextlib.contextmanager
def app_in_browser(tmp_path, env: dict | None = None, viewport: tuple[int, int] = (1400, 1000)):
    """A Streamlit server of app.py on 127.0.0.1 and a Chromium page: (page, port, shots).

    ``env`` adds environment variables for the server; ``shots`` is AEVIZ_SCREENSHOT_DIR or tmp_path.
    """
    sync_playwright = need_browser()
    port = free_port()
    log = open(tmp_path / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, **(env or {})})
    shots = Path(os.environ.get("AEVIZ_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    try:
        _wait_healthy(port, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
                page.set_default_timeout(FIRST_PAINT_S * 1000)
                yield page, port, shots
            finally:
                browser.close()
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=15)
        log.close()




def no_exception(page) -> None:
    """No Streamlit exception box on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0
