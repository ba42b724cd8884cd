"""How fast the app answers in a real browser, against a bare Streamlit page doing the same.

Starts `streamlit run app.py` and `streamlit run benchmarks/bare_slider_app.py` on
127.0.0.1, drives both with Debian's headless Chromium (Playwright), and measures

- first load: navigation until the slider's decoded image is shown;
- slider round trip: a key press on the slider until the new image has loaded.

Rounds alternate between the two apps so machine load hits both alike. Prints
medians and the ratio aeviz / bare (target <= 1.5x for the round trip).

    python benchmarks/app_latency.py [--rounds 15]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
APPS = {"aeviz": "app.py", "bare": "benchmarks/bare_slider_app.py"}
# True once an image whose caption holds "at t =" differs from `before` and has loaded.
IMAGE_CHANGED = """before => {
  const box = [...document.querySelectorAll('[data-testid="stImage"]')]
      .find(e => e.innerText.includes('at t ='));
  const img = box && box.querySelector('img');
  return !!img && img.src !== before && img.complete && img.naturalWidth > 0;
}"""
IMAGE_SRC = """() => {
  const box = [...document.querySelectorAll('[data-testid="stImage"]')]
      .find(e => e.innerText.includes('at t ='));
  const img = box && box.querySelector('img');
  return img ? img.src : '';
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(script: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{script} did not become healthy within 90 s")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, 9)


def first_load(browser, url: str, timeout_s: float) -> tuple[object, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_function(IMAGE_CHANGED, arg="", timeout=timeout_s * 1000)
    return page, time.perf_counter() - t0


def round_trip(page, key: str, timeout_s: float = 60) -> float:
    before = page.evaluate(IMAGE_SRC)
    slider = page.locator('[data-testid="stSlider"] input[type="range"]').first
    slider.focus()
    t0 = time.perf_counter()
    page.keyboard.press(key)
    page.wait_for_function(IMAGE_CHANGED, arg=before, timeout=timeout_s * 1000, polling="raf")
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=15, help="slider moves per app (default 15)")
    ap.add_argument("--first-load-timeout", type=float, default=300)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright
    ports = {name: free_port() for name in APPS}
    procs = {}
    try:
        for name, script in APPS.items():
            procs[name] = start(script, ports[name])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            pages, loads = {}, {}
            # The first aeviz load may train/cache models; measure a second, warm load too.
            for name in APPS:
                page, cold = first_load(browser, f"http://127.0.0.1:{ports[name]}/", args.first_load_timeout)
                page.close()
                pages[name], warm = first_load(browser, f"http://127.0.0.1:{ports[name]}/",
                                               args.first_load_timeout)
                loads[name] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3)}
            trips = {name: [] for name in APPS}
            for i in range(args.rounds):
                key = "ArrowRight" if i % 2 == 0 else "ArrowLeft"
                for name in APPS:
                    trips[name].append(round_trip(pages[name], key))
            browser.close()
    finally:
        for proc in procs.values():
            stop(proc)
    med = {name: statistics.median(v) for name, v in trips.items()}
    report = {
        "first_load": loads,
        "slider_round_trip_median_s": {k: round(v, 3) for k, v in med.items()},
        "slider_round_trip_all_s": {k: [round(x, 3) for x in v] for k, v in trips.items()},
        "ratio_round_trip": round(med["aeviz"] / med["bare"], 2),
        "ratio_warm_first_load": round(loads["aeviz"]["warm_s"] / loads["bare"]["warm_s"], 2),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=1))
    print(f"slider round trip: aeviz {med['aeviz'] * 1000:.0f} ms vs bare {med['bare'] * 1000:.0f} ms "
          f"-> {report['ratio_round_trip']}x (target <= 1.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
