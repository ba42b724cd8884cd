"""End to end in a real browser: the landing view's slider and the timeline (harness: tests/browser.py)."""
import base64

from browser import IMAGE_CHANGE_S, app_in_browser


def _interp_image_src(page) -> str:
    return page.locator('[data-testid="stImage"]').filter(has_text="at t =").first \
        .locator("img").get_attribute("src")


def test_landing_view_and_slider_in_a_real_browser(tmp_path):
    # the real offline default: the embedded 28x28 MNIST subset with the shipped 2-D models
    with app_in_browser(tmp_path, env={"AEVIZ_DEFAULT_DATASET": ""}) as (page, port, shots):
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
    with app_in_browser(tmp_path) as (page, port, shots):
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
