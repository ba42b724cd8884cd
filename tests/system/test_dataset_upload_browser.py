"""Must-show of issue 14: a dataset uploaded in the browser is trained on and explored in one session.

A CSV of 300 seeded 2-D points in two labelled blobs goes through the sidebar's file box on the
Train page, a small VAE is trained on it for a few epochs, and Explore and Decode (reached by the
page links, so the session and its upload stay) draw its map and decoded points as plots.
Harness: tests/browser.py.
"""
import numpy as np

from browser import IMAGE_CHANGE_S, app_in_browser, no_exception

TRAIN_S = 60


def _blobs_csv(path, n: int = 300, seed: int = 0):
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 2, n)
    pts = rng.normal(size=(n, 2)) * 0.4 + np.where(side[:, None] == 1, 1.5, -1.5)
    rows = [f"{a:.4f},{b:.4f},{'east' if s else 'west'}" for (a, b), s in zip(pts, side)]
    path.write_text("x,y,label\n" + "\n".join(rows) + "\n")
    return path


def _points(page, nth: int = 0) -> int:
    """Points drawn by the nth plotly figure (all its traces)."""
    return page.evaluate("(i) => document.querySelectorAll('.js-plotly-plot')[i]._fullData"
                         ".reduce((n, t) => n + (t.x ? t.x.length : 0), 0)", nth)


def test_a_dataset_uploaded_in_the_browser_is_trained_on_and_explored_in_one_session(tmp_path):
    csv = _blobs_csv(tmp_path / "blobs.csv")
    env = {"AEVIZ_MODELS_DIR": str(tmp_path / "models"), "AEVIZ_CACHE_DIR": str(tmp_path / "cache")}
    with app_in_browser(tmp_path, env=env) as (page, port, shots):
        page.goto(f"http://127.0.0.1:{port}/train")
        page.get_by_role("heading", name="Train a model").wait_for()
        sidebar = page.locator('[data-testid="stSidebar"]')
        sidebar.locator('input[type="file"]').set_input_files(str(csv))
        page.set_default_timeout(IMAGE_CHANGE_S * 1000)
        sidebar.get_by_text("blobs.csv (upload) · 300 samples of 2").wait_for()
        page.get_by_text("240 training images").wait_for()        # 80% of the upload: the data trained on
        epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
        epochs.fill("30")
        epochs.press("Enter")
        # the Train page was drawn for digits first: its name box keeps that default, so name the model
        name = page.get_by_role("textbox", name="Save as")
        name.fill("blobs-vae-2")
        name.press("Enter")
        page.get_by_text("saved to blobs-vae-2").wait_for()
        page.screenshot(path=str(shots / "upload-train-ready.png"), full_page=True)
        page.get_by_role("button", name="Start training").click()
        page.get_by_text("Saved as blobs-vae-2", exact=False).wait_for(timeout=TRAIN_S * 1000)
        no_exception(page)
        page.screenshot(path=str(shots / "upload-trained.png"))

        sidebar.get_by_role("link", name="Explore").click()          # same session: the upload stays
        page.get_by_role("heading", name="Explore a latent space").wait_for()
        page.get_by_text("blobs-vae-2").first.wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        page.wait_for_function("() => document.querySelector('.js-plotly-plot')._fullData !== undefined")
        assert _points(page) >= 60                                  # the 60 test points (+ markers)
        no_exception(page)
        page.screenshot(path=str(shots / "upload-explore.png"), full_page=True)

        sidebar.get_by_role("link", name="Decode anywhere").click()
        page.get_by_role("heading", name="Decode anywhere").wait_for()
        page.get_by_text("at (").first.wait_for()                   # the decoded point's caption
        decoded = page.locator(".js-plotly-plot").filter(has_text="feature 2")   # a plot, not a table
        decoded.first.wait_for()
        assert _points(page, 1) == 1                                # the one decoded point, in the data plane
        no_exception(page)
        page.screenshot(path=str(shots / "upload-decode.png"), full_page=True)
