"""Gestures do what the page says, in a real browser (harness: tests/browser.py).

Keyed widgets keep their browser-side value unless the server writes their key before drawing
them, which AppTest cannot show: these tests read what the user sees in the DOM.
"""
import re
import time

from browser import IMAGE_CHANGE_S, app_in_browser, no_exception

DIGITS = {"AEVIZ_DEFAULT_DATASET": "digits"}      # shipped 2-D digits models: the latent map is exact


def _slider(page, label: str):
    return page.locator('[data-testid="stSlider"]').filter(
        has=page.locator('[data-testid="stWidgetLabel"]', has_text=re.compile(f"^{label}$")))


def _slider_value(page, label: str) -> tuple[float, float]:
    """(value the slider holds, its step): read from the range input the user drags."""
    return tuple(_slider(page, label).locator('input[type="range"]')
                 .evaluate("e => [Number(e.value), Number(e.step)]"))


def _number(page, label: str) -> float:
    return float(page.get_by_label(label, exact=True).input_value())


def _wait_close(page, label: str, want: float) -> None:
    """Wait until slider ``label`` shows ``want`` (to within one step: the browser snaps to it)."""
    page.wait_for_function(
        """([label, want]) => [...document.querySelectorAll('[data-testid="stSlider"]')].some(s =>
             s.querySelector('[data-testid="stWidgetLabel"]').textContent.trim() === label &&
             Math.abs(Number(s.querySelector('input[type="range"]').value) - want) <=
               Number(s.querySelector('input[type="range"]').step) / 2 + 1e-3)""",
        arg=[label, want])


def _click_map(page, fx: float, fy: float) -> None:
    """Click the catcher marker at fraction (fx, fy) of the map's view (0, 0 = bottom left).

    ``_offset`` is where the axis starts in the div: the margin plus, with the aspect ratio
    locked (constrain="domain"), the part of the plot area left empty beside it."""
    xy = page.locator(".js-plotly-plot").first.evaluate(
        """(el, [fx, fy]) => {
             const L = el._fullLayout, r = el.getBoundingClientRect(), n = 64, t = el._fullData[0];
             const k = Math.round(fy * (n - 1)) * n + Math.round(fx * (n - 1));
             return [r.left + L.xaxis._offset + L.xaxis.l2p(t.x[k]), r.top + L.yaxis._offset + L.yaxis.l2p(t.y[k])];
           }""", [fx, fy])
    page.mouse.click(*xy)


def _nav(page, title: str, heading: str) -> None:
    page.locator('[data-testid="stSidebarNavLink"]', has_text=title).click()
    page.get_by_role("heading", name=heading).wait_for()


def test_decode_sliders_follow_a_click_on_the_map_and_reset_puts_them_back(tmp_path):
    with app_in_browser(tmp_path, env=DIGITS) as (page, port, shots):
        page.goto(f"http://127.0.0.1:{port}/decode")
        page.get_by_role("heading", name="Decode anywhere").wait_for()
        page.get_by_text("at (").first.wait_for()
        page.get_by_role("tab", name="Sliders").click()
        _slider(page, "z0").wait_for()
        x0 = _number(page, "x")
        page.set_default_timeout(IMAGE_CHANGE_S * 1000)

        _click_map(page, 0.15, 0.85)                     # an empty place, top left
        page.wait_for_function("x0 => Number(document.querySelector('input[aria-label=\"x\"]').value) "
                               "!== x0", arg=x0)
        x, y = _number(page, "x"), _number(page, "y")
        _wait_close(page, "z0", x)
        _wait_close(page, "z1", y)
        page.screenshot(path=str(shots / "gestures-decode-clicked.png"), full_page=True)

        _slider(page, "z0").locator('input[type="range"]').focus()
        page.keyboard.press("End")                       # z0 to its top
        top = float(_slider(page, "z0").locator('input[type="range"]').get_attribute("max"))
        _wait_close(page, "z0", top)
        assert abs(top - x) > _slider_value(page, "z0")[1]
        page.get_by_role("button", name="Reset to the decoded code").click()
        _wait_close(page, "z0", x)
        assert abs(_slider_value(page, "z1")[0] - y) <= _slider_value(page, "z1")[1] / 2 + 1e-3
        page.screenshot(path=str(shots / "gestures-decode-reset.png"), full_page=True)
        no_exception(page)


def _click_sets(page) -> str:
    """The option shown selected in "Clicking a point sets"."""
    group = page.locator('[data-testid="stRadio"]', has_text="Clicking a point sets")
    group.wait_for()
    return group.locator('[data-testid="stRadioOption"][data-selected="true"]').inner_text().strip()


def test_interpolate_click_choice_survives_a_via_error_and_a_page_switch(tmp_path):
    with app_in_browser(tmp_path, env=DIGITS) as (page, port, shots):
        page.goto(f"http://127.0.0.1:{port}/interpolate")
        page.get_by_role("heading", name="Interpolate").first.wait_for()
        page.get_by_text("endpoint B", exact=True).wait_for()
        page.set_default_timeout(IMAGE_CHANGE_S * 1000)
        page.get_by_text("endpoint B", exact=True).click()
        page.locator('[data-testid="stRadioOption"][data-selected="true"]', has_text="endpoint B").wait_for()
        via = page.get_by_role("textbox", name="Via points (indices, in order)")
        via.fill("12, x")
        via.press("Enter")
        page.get_by_text("not understood: x").wait_for()
        page.screenshot(path=str(shots / "gestures-interp-via-error.png"), full_page=True)
        via.fill("12")
        via.press("Enter")
        page.get_by_text("via #12").first.wait_for()
        assert _click_sets(page) == "endpoint B"

        _nav(page, "Explore", "Explore a latent space")
        _nav(page, "Interpolate", "Interpolate")
        assert _click_sets(page) == "endpoint B"
        page.locator('[data-testid="stRadio"]', has_text="Clicking a point sets").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "gestures-interp-back.png"))
        no_exception(page)


def _choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(option)}")).click()


def _type(page, label: str, text: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(text)
    box.press("Enter")


def _train_settings(page) -> dict:
    """The Train settings as the user sees them."""
    value = lambda label: page.get_by_label(label, exact=True).input_value()      # noqa: E731
    return {"family": value("Model family"), "schedule": value("Learning-rate schedule"),
            "hidden": value("Hidden sizes"), "latent": value("Latent size"), "epochs": value("Epochs"),
            "name": value("Save as"),
            "batch": _slider(page, "Batch size").locator('[data-testid="stSliderThumbValue"]').inner_text(),
            "overwrite": page.get_by_role("checkbox", name="Overwrite a model with this name").is_checked(),
            "timeline": page.get_by_role("checkbox", name=re.compile("^Record a timeline")).is_checked()}


def _wait_changed(page, summary: str) -> None:
    """Wait for the form's summary line (drawn after every setting) to differ from ``summary``."""
    page.wait_for_function(
        """old => [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].some(c =>
             c.textContent.includes('parameters (estimate)') && c.textContent !== old)""", arg=summary)


def _name_settled(page) -> None:
    """Wait until "Save as" shows the name the server's summary line saves to: the browser applies
    a value the server wrote a moment after it draws the line below."""
    page.wait_for_function(
        """() => { const i = document.querySelector('input[aria-label="Save as"]');
                   return i && [...document.querySelectorAll('[data-testid="stCaptionContainer"]')].some(c =>
                     c.textContent.includes('parameters (estimate)') &&
                     c.textContent.endsWith('saved to ' + i.value)); }""")


def _eventually(read, want, seconds: float = 5.0):
    """``read()`` once it equals ``want`` (values written by the server land a moment late), else
    its value after ``seconds``: the caller asserts, with a readable diff."""
    deadline = time.monotonic() + seconds
    got = read()
    while got != want and time.monotonic() < deadline:
        time.sleep(0.2)
        got = read()
    return got


def test_train_settings_survive_a_page_switch_and_the_default_name_is_no_shipped_models(tmp_path):
    own = {**DIGITS, "AEVIZ_MODELS_DIR": str(tmp_path / "models")}     # no earlier test's models
    with app_in_browser(tmp_path, env=own) as (page, port, shots):
        page.goto(f"http://127.0.0.1:{port}/train")
        page.get_by_role("heading", name="Train a model").wait_for()
        page.get_by_text("parameters (estimate)").wait_for()
        page.set_default_timeout(IMAGE_CHANGE_S * 1000)
        shown_default = page.get_by_label("Save as", exact=True).input_value()   # asserted below
        summary = page.get_by_text("parameters (estimate)").inner_text()
        _type(page, "Latent size", "8")
        _wait_changed(page, summary)
        _name_settled(page)
        followed = page.get_by_label("Save as", exact=True).input_value()      # asserted below
        _choose(page, "Model family", "ae — ")
        _choose(page, "Learning-rate schedule", "cosine")
        _type(page, "Hidden sizes", "64,32")
        _type(page, "Epochs", "5")
        _slider(page, "Batch size").locator('input[type="range"]').focus()
        page.keyboard.press("ArrowRight")                                   # 64 -> 128
        page.get_by_role("checkbox", name=re.compile("^Record a timeline")).click(force=True)
        page.get_by_role("checkbox", name="Overwrite a model with this name").click(force=True)
        _type(page, "Save as", "my-run")
        page.get_by_text("saved to my-run").wait_for()
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')")
        before = _train_settings(page)
        assert before["batch"] == "128" and before["latent"] == "8" and before["overwrite"]
        page.screenshot(path=str(shots / "gestures-train-set.png"), full_page=True)

        _nav(page, "Decode anywhere", "Decode anywhere")
        _nav(page, "Train", "Train a model")
        page.get_by_text("parameters (estimate)").wait_for()
        _name_settled(page)
        after = _eventually(lambda: _train_settings(page), before)
        page.screenshot(path=str(shots / "gestures-train-back.png"), full_page=True)
        assert after == before
        # the default name: never a shipped model's (pretrained/digits-vae-2), and it follows the settings
        assert (shown_default, followed) == ("digits-vae-2-mine", "digits-vae-8-mine")
        no_exception(page)
