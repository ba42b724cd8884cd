"""End to end in a real browser: Debian's Chromium, driven by Playwright, against `streamlit run app.py`.

Skips when Chromium or Playwright is missing, unless AEVIZ_REQUIRE_BROWSER=1 (CI), where that fails.
The server is always killed; every wait is bounded.
"""
import base64
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

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
FIRST_PAINT_S = 240         # generous: a first run without pretrained/ trains two small models
IMAGE_CHANGE_S = 60


def _need_browser():
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


def _free_port() -> int:
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


def _interp_image_src(page) -> str:
    return page.locator('[data-testid="stImage"]').filter(has_text="at t =").first \
        .locator("img").get_attribute("src")


@contextlib.contextmanager
def _app_in_browser(tmp_path):
    """A Streamlit server of app.py on 127.0.0.1 and a Chromium page (1400x1000): (page, port, shots)."""
    sync_playwright = _need_browser()
    port = _free_port()
    log = open(tmp_path / "streamlit.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    shots = Path(os.environ.get("AEVIZ_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    try:
        _wait_healthy(port, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
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


def test_landing_view_and_slider_in_a_real_browser(tmp_path):
    with _app_in_browser(tmp_path) as (page, port, shots):
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_role("heading", name="Compare latent spaces").wait_for()
        page.get_by_text("at t = 0.50").first.wait_for()
        page.locator(".js-plotly-plot").nth(2).wait_for()      # the three maps, however late
        assert page.locator(".js-plotly-plot").count() == 3
        before = _interp_image_src(page)
        page.screenshot(path=str(shots / "e2e-landing.png"))

        page.locator('[data-testid="stSlider"] input[type="range"]').first.focus()
        page.keyboard.press("End")                             # t: 0.50 -> 1.00
        page.set_default_timeout(IMAGE_CHANGE_S * 1000)
        page.get_by_text("at t = 1.00").first.wait_for()
        after = _interp_image_src(page)
        page.screenshot(path=str(shots / "e2e-slider-moved.png"))
        assert before and after and before != after
        # inline PNGs: nothing to fetch, so no request for a replaced media file can 404
        assert after.startswith("data:image/png;base64,")
        assert base64.b64decode(after.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
        assert page.locator('[data-testid="stException"]').count() == 0


def _first_trace_x(page) -> list:
    return page.evaluate("() => Array.from(document.querySelector('.js-plotly-plot')._fullData[0].x)")


def test_the_timeline_plays_in_a_real_browser(tmp_path):
    with _app_in_browser(tmp_path) as (page, port, shots):
        page.goto(f"http://127.0.0.1:{port}/timeline")
        page.get_by_role("heading", name="Watch a latent space form").wait_for()
        page.get_by_text("▶ Play").wait_for()
        label = page.locator(".slider-container .slider-label").first
        assert label.text_content().strip() == "epoch 0"
        start = _first_trace_x(page)
        page.screenshot(path=str(shots / "e2e-timeline-epoch0.png"))
        page.get_by_text("▶ Play").click()                   # plays in the browser: no rerun per frame
        page.set_default_timeout(IMAGE_CHANGE_S * 1000)
        page.wait_for_function("() => document.querySelector('.slider-container .slider-label')"
                               ".textContent.trim() === 'epoch 200'")
        page.screenshot(path=str(shots / "e2e-timeline-epoch200.png"))
        end = _first_trace_x(page)
        assert len(start) == len(end) == 360 and start != end       # the AE's points moved
        assert page.locator('[data-testid="stException"]').count() == 0
