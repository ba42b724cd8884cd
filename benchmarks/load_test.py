"""A classroom in a box: N concurrent browser sessions against one aeviz server.

Starts ``streamlit run app.py`` on 127.0.0.1 (or uses ``--url``), opens N
headless-Chromium contexts (one Streamlit session each, Debian's Chromium via
Playwright) and has every session, at the same time: load the app, move the
Compare slider, go to Explore, upload its own checkpoint .zip, switch the
projection, box-select points, then train a small model on the Train page.

Reports, as JSON: errors (Streamlit exception blocks, browser console errors,
page errors, server tracebacks), cross-session leakage (a session's upload
showing up in another session), latency percentiles per step and overall, and
training times. Bounded: at most 16 sessions, stops itself after --timeout s.

    python benchmarks/load_test.py [--sessions 8] [--timeout 600] [--json out.json]

A step's latency is measured from the action to Streamlit's ``script_finished``
message for the rerun it caused (read from the websocket), so it is what a
student waits for, not a polling artefact.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))                   # run from a checkout
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
MAX_SESSIONS = 16
STEP_TIMEOUT = 120.0        # one rerun slower than this counts as an error (a frozen session)
ALL_STEPS = ("open", "slider", "explore", "upload", "projection", "select", "train")
EXCEPTION = '[data-testid="stException"]'
IMAGES_DONE = "() => [...document.images].every(i => i.complete)"
# `streamlit run`, plus a SIGUSR1 handler that dumps every server thread's stack into the log
BOOT = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
        "from streamlit.web import cli; sys.argv = ['streamlit', 'run', *sys.argv[1:]]; sys.exit(cli.main())")


# --------------------------------------------------------------------------- the server

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def app_server(workdir: Path, script: str = "app.py", env: dict[str, str] | None = None,
               timeout: float = 120):
    """``streamlit run script`` on a free 127.0.0.1 port; yields (url, log, pid); always stopped."""
    port = free_port()
    log = workdir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", BOOT, script, "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
            start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{script} did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", log, proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def checkpoint_zip(folder: Path, tag: str) -> tuple[Path, str]:
    """A tiny digits model whose weights are unique to ``tag``; returns (zip, the name the app
    labels it by: "upload: <tag>.zip (ae, 2-D)", private to the session that sent it)."""
    import hashlib

    from aeviz.models.checkpoint import save_checkpoint
    from aeviz.models.config import ModelConfig
    from aeviz.training.loop import seeded_model
    cfg = ModelConfig(family="ae", input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
    seed = int(hashlib.sha256(tag.encode()).hexdigest()[:8], 16)     # a model of its own per session
    ckpt = save_checkpoint(folder / tag, seeded_model(cfg, seed), dataset_name="digits",
                           metrics={"tag": tag})
    zpath = folder / f"{tag}.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(ckpt.iterdir()):
            z.writestr(zipfile.ZipInfo(f"{tag}/{p.name}", (2020, 1, 1, 0, 0, 0)), p.read_bytes())
    return zpath, zpath.name


# --------------------------------------------------------------------------- one session

@dataclass
class Session:
    index: int
    tag: str
    zip_path: Path | None = None
    marker: str = ""                # text only this session's page may show (its upload's name)
    latencies: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)   # page text after each step
    train_seconds: float | None = None
    finished: int = 0                                 # script_finished messages seen


class Driver:
    """Drives one page; counts Streamlit's script_finished messages on its websocket."""

    def __init__(self, page, session: Session):
        self.page, self.s = page, session
        self.changed = asyncio.Event()
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        self._msg = ForwardMsg
        page.on("websocket", self._watch)
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("pageerror", lambda e: session.errors.append(f"pageerror: {str(e)[:300]}"))

    def _console(self, m) -> None:
        if m.type == "error":
            where = (m.location or {}).get("url", "")
            self.s.errors.append(f"console: {m.text[:300]}" + (f" ({where})" if where else ""))

    def _response(self, r) -> None:
        if r.status >= 400:
            self.s.errors.append(f"HTTP {r.status}: {r.url[:200]}")

    def _watch(self, ws) -> None:
        def frame(payload) -> None:
            if isinstance(payload, (bytes, bytearray)):
                msg = self._msg()
                with contextlib.suppress(Exception):           # not every frame is a ForwardMsg
                    msg.ParseFromString(bytes(payload))
                    # a run stopped early for a newer rerun (a widget event arrived meanwhile)
                    # has not drawn the page: only complete runs end a step
                    if msg.WhichOneof("type") == "script_finished" and \
                            msg.script_finished != msg.FINISHED_EARLY_FOR_RERUN:
                        self.s.finished += 1
                        self.changed.set()
        ws.on("framereceived", frame)

    async def rerun(self, name: str, action, timeout: float = STEP_TIMEOUT, until: str | None = None) -> None:
        """Run ``action`` and time it until its rerun finished (and ``until`` text shows)."""
        before = self.s.finished
        t0 = time.perf_counter()
        await action()
        deadline = t0 + timeout
        while self.s.finished <= before or (until and not await self._has_text(until)):
            self.changed.clear()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"step {name}: no finished rerun within {timeout:.0f} s")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 0.25))
        self.s.latencies[name] = time.perf_counter() - t0
        await self.check(name)

    async def _has_text(self, text: str) -> bool:
        return text in await self.page.inner_text("body")

    async def check(self, name: str) -> None:
        # like a student looking at the page: let its pictures load before the next action
        with contextlib.suppress(Exception):
            await self.page.wait_for_function(IMAGES_DONE, timeout=30_000)
        for block in await self.page.locator(EXCEPTION).all():
            self.s.errors.append(f"{name}: exception block: {(await block.inner_text())[:300]}")
        self.s.texts.append(await self.page.inner_text("body"))

    async def nav(self, title: str) -> None:
        await self.page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()


async def run_session(browser, url: str, s: Session, steps: tuple[str, ...], train_timeout: float,
                      artifacts: Path | None):
    ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await ctx.new_page()
    d = Driver(page, s)
    try:
        await d.rerun("open", lambda: page.goto(url), timeout=2 * STEP_TIMEOUT, until="Compare latent spaces")
        if "slider" in steps:
            thumb = page.get_by_role("slider", name="Position between A and B")

            async def slide():
                await thumb.focus()
                await thumb.press("ArrowRight")
            await d.rerun("slider", slide)
        if "explore" in steps:
            await d.rerun("explore", lambda: d.nav("Explore"), until="Explore a latent space")
        if "upload" in steps and s.zip_path:
            async def upload():
                box = page.locator('[data-testid="stExpander"]', has_text="Upload a model")
                await box.click()
                await box.locator('input[type="file"]').set_input_files(str(s.zip_path))
            await d.rerun("upload", upload, until=f"{s.marker} · ")
        if "projection" in steps:
            async def project():
                await open_dropdown(page, "Projection", "pca")
                await page.get_by_role("option", name="pca", exact=True).click()
            await d.rerun("projection", project, until="pca projection")
        if "select" in steps:
            await d.rerun("select", lambda: box_select(page), until="Point #")
        if "train" in steps:
            await train(d, page, s, train_timeout)
    except Exception as e:  # noqa: BLE001 - a failed step is a reported error, not a crash
        s.errors.append(f"{type(e).__name__}: {str(e)[:300]}")
        if artifacts is not None:
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(artifacts / f"{s.tag}.png"))
    finally:
        await ctx.close()


async def open_dropdown(page, label: str, option: str) -> None:
    """Open a selectbox until ``option`` shows. A click on a box at the very edge of the
    sidebar's viewport can be spent scrolling it into view; a person clicks again, so do we."""
    box = page.locator('[data-testid="stSelectbox"]', has_text=label)
    for _ in range(3):
        await box.scroll_into_view_if_needed()
        await box.click()
        with contextlib.suppress(Exception):
            await page.get_by_role("option", name=option, exact=True).wait_for(timeout=3000)
            return
    raise TimeoutError(f"the {label} dropdown did not open")


async def box_select(page) -> None:
    plot = page.locator(".js-plotly-plot").first
    await plot.hover()
    await plot.locator('.modebar-btn[data-title="Box Select"]').click()
    box = await plot.locator(".nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05
    await page.mouse.move(x0, y0)
    await page.mouse.down()
    await page.mouse.move(x0 + box["width"] * 0.9, y0 + box["height"] * 0.9, steps=8)
    await page.mouse.up()


async def train(d: Driver, page, s: Session, timeout: float) -> None:
    await d.rerun("train page", lambda: d.nav("Train"), until="Train a model")

    async def fill(label: str, value: str) -> None:
        box = page.get_by_label(label, exact=True)
        await box.fill(value)
        await box.press("Enter")
    await d.rerun("train epochs", lambda: fill("Epochs", "2"))
    await d.rerun("train hidden", lambda: fill("Hidden sizes", "32"))
    await d.rerun("train name", lambda: fill("Save as", s.tag), until=s.tag)
    t0 = time.perf_counter()
    await d.rerun("train start", lambda: page.get_by_role("button", name="Start training").click())
    await page.get_by_text(f"Saved as {s.tag}").first.wait_for(timeout=timeout * 1000)
    s.train_seconds = time.perf_counter() - t0
    await d.check("train done")


# --------------------------------------------------------------------------- the whole run

def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q / 100 * (len(v) - 1))))]


def leakage(sessions: list[Session]) -> list[str]:
    """A session's upload (its private file name) seen in another session's page."""
    found = []
    for s in sessions:
        for other in sessions:
            if other is not s and other.marker and any(other.marker in t for t in s.texts):
                found.append(f"session {s.index} shows session {other.index}'s upload {other.marker}")
    return found


async def drive(url: str, n: int, steps: tuple[str, ...], timeout: float, workdir: Path,
                train_timeout: float, artifacts: Path | None) -> tuple[list[Session], bool]:
    from playwright.async_api import async_playwright
    sessions = []
    for i in range(n):
        tag = f"load-{i}-{secrets.token_hex(3)}"
        s = Session(i, tag)
        if "upload" in steps:
            s.zip_path, s.marker = checkpoint_zip(workdir, tag)
        sessions.append(s)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        timed_out = False
        try:
            await asyncio.wait_for(asyncio.gather(*(run_session(browser, url, s, steps, train_timeout,
                                                                artifacts) for s in sessions)), timeout)
        except asyncio.TimeoutError:
            timed_out = True                   # what the sessions measured so far is kept
        finally:
            await browser.close()
    return sessions, timed_out


def run(n: int = 8, steps: tuple[str, ...] = ALL_STEPS, timeout: float = 600, url: str | None = None,
        train_timeout: float = 300, artifacts: Path | None = None) -> dict:
    """Start the app (unless ``url``), drive ``n`` sessions, return the report.

    ``artifacts``: a folder that receives the server log and a screenshot of each failed session.
    """
    n = max(1, min(n, MAX_SESSIONS))
    with tempfile.TemporaryDirectory(prefix="aeviz-load-") as tmp:
        work = Path(tmp)
        (work / "tmp").mkdir()
        # TMPDIR: the app's per-session upload folders land here and go away with the run
        env = {"AEVIZ_CACHE_DIR": str(work / "cache"), "AEVIZ_MODELS_DIR": str(work / "models"),
               "TMPDIR": str(work / "tmp")}
        with contextlib.ExitStack() as stack:
            log = pid = None
            if url is None:
                url, log, pid = stack.enter_context(app_server(work, "app.py", env))
            t0 = time.perf_counter()
            sessions, timed_out = asyncio.run(drive(url, n, steps, timeout, work, train_timeout,
                                                    artifacts))
            wall = time.perf_counter() - t0
            stuck = timed_out or any("Timeout" in e for s in sessions for e in s.errors)
            if stuck and pid:                      # what was the server doing? (for the report)
                os.kill(pid, signal.SIGUSR1)
                time.sleep(2)
            server = log.read_text(errors="replace") if log else ""
            saved = sorted(p.name for p in (work / "models").iterdir()) if (work / "models").is_dir() else []
            if artifacts is not None and server:
                (artifacts / "server.log").write_text(server)
    result = report(sessions, n, steps, wall, timed_out, server)
    result["models_saved_on_server"] = saved
    if stuck and server:
        result["server_threads"] = server[server.find("Thread 0x"):][-6000:]
    return result


def report(sessions: list[Session], n: int, steps, wall: float, timed_out: bool, server: str) -> dict:
    per_step: dict[str, list[float]] = {}
    for s in sessions:
        for name, sec in s.latencies.items():
            per_step.setdefault(name, []).append(sec)
    interactions = [v for k, vals in per_step.items() if k not in ("open", "train start") for v in vals]
    tracebacks = [m.group(0)[:500] for m in re.finditer(r"Traceback \(most recent call last\):[\s\S]*?\n\S[^\n]*", server)]
    errors, media = [], set()
    for s in sessions:
        for e in s.errors:
            # Streamlit's known media race (streamlit#4825): a picture deleted on the server
            # before this browser fetched it; counted apart, once per (session, file)
            missing = re.search(r"/media/([0-9a-f]+\.\w+)", e)
            if missing and ("404" in e or "Image source error" in e):
                media.add((s.index, missing.group(1)))
            else:
                errors.append(f"session {s.index}: {e}")
    errors += [f"server: {t}" for t in tracebacks] + (["the run timed out"] if timed_out else [])
    trains = [s.train_seconds for s in sessions if s.train_seconds is not None]
    return {
        "sessions": n, "steps": list(steps), "wall_seconds": round(wall, 1),
        "errors": errors, "leakage": leakage(sessions),
        "media_missing": {"count": len(media), "sessions": len({i for i, _ in media}),
                          "files": sorted({f for _, f in media})},
        "latency_s": {"interactions_p50": percentile(interactions, 50),
                      "interactions_p95": percentile(interactions, 95),
                      "open_p50": percentile(per_step.get("open", []), 50),
                      "open_p95": percentile(per_step.get("open", []), 95),
                      "per_step_p50": {k: percentile(v, 50) for k, v in per_step.items()},
                      "per_step_p95": {k: percentile(v, 95) for k, v in per_step.items()}},
        "training_s": {"completed": len(trains), "p50": percentile(trains, 50),
                       "max": max(trains) if trains else None},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=8, help=f"concurrent sessions (1..{MAX_SESSIONS})")
    p.add_argument("--timeout", type=float, default=600, help="stop after this many seconds")
    p.add_argument("--steps", default=",".join(ALL_STEPS), help="comma-separated subset of steps")
    p.add_argument("--url", help="drive a running app instead of starting one")
    p.add_argument("--json", help="also write the report here")
    p.add_argument("--artifacts", type=Path, help="folder for the server log and failure screenshots")
    args = p.parse_args(argv)
    steps = tuple(s for s in args.steps.split(",") if s in ALL_STEPS)
    if args.artifacts:
        args.artifacts.mkdir(parents=True, exist_ok=True)
    result = run(args.sessions, steps, args.timeout, args.url, artifacts=args.artifacts)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0 if not result["errors"] and not result["leakage"] else 1


if __name__ == "__main__":
    sys.exit(main())
