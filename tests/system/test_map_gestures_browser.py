"""Issue 14: the map gestures do what the page says, in a real browser (harness: tests/browser.py).

A click on a point selects it in the maps' default mode (Explore and Compare); a box drawn with the
toolbar's Box Select shows a grid of the whole selection on Explore; Compare's selection is cleared
the way its caption says. Every point is found through plotly's own figure state and clicked at
its pixel position, so a test fails when the page ignores the gesture. One server serves all tests;
each test opens its own browser session.
"""
import os

import pytest

from browser import app_in_browser, no_exception

pytestmark = [pytest.mark.browser, pytest.mark.slow]
GESTURE_S = 30          # a gesture's rerun on the small default models takes a few seconds

# Page position of every data point of the nth map, as plotly itself places it:
# [x, y, dataset index, distance in px to its nearest neighbour].
POINTS_JS = """(nth) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[nth];
  const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const pts = [];
  for (const t of gd._fullData) {
    if (!t.customdata || t.name === 'selected' || t.mode !== 'markers') continue;
    for (let i = 0; i < t.x.length; i++)
      pts.push([r.left + xa._offset + xa.l2p(t.x[i]), r.top + ya._offset + ya.l2p(t.y[i]),
                Number(t.customdata[i][0])]);
  }
  for (const p of pts) p.push(Math.min(...pts.filter(q => q !== p)
                                       .map(q => Math.hypot(p[0] - q[0], p[1] - q[1]))));
  return pts;
}"""


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gestures")
    with app_in_browser(tmp) as (page, port, shots):
        yield page, port, shots


def _open(app, path: str, n_maps: int):
    page, port, shots = app
    page.goto(f"http://127.0.0.1:{port}/{path}?dataset=digits")       # 360 test points, whatever the default
    page.locator(".js-plotly-plot").nth(n_maps - 1).wait_for()
    page.wait_for_function("(n) => document.querySelectorAll('.js-plotly-plot')[n]._fullLayout", arg=n_maps - 1)
    page.set_default_timeout(GESTURE_S * 1000)
    return page, shots


def _shot(page, shots, name: str) -> None:
    page.screenshot(path=str(shots / f"gestures-{name}.png"))
    if os.environ.get("AEVIZ_GESTURE_SHOTS"):        # a fixed folder to look at them by hand
        os.makedirs(os.environ["AEVIZ_GESTURE_SHOTS"], exist_ok=True)
        page.screenshot(path=os.path.join(os.environ["AEVIZ_GESTURE_SHOTS"], f"{name}.png"))


def _lonely_point(page, nth: int = 0) -> tuple[float, float, int]:
    """The point farthest from its neighbours: a click there can only mean that point."""
    x, y, index, _ = max(page.evaluate(POINTS_JS, nth), key=lambda p: p[3])
    return x, y, index


def _click_point(page, nth: int = 0) -> int:
    x, y, index = _lonely_point(page, nth)
    page.mouse.move(x, y)                   # plotly clicks the point under the hover, so hover first
    page.wait_for_timeout(150)
    page.mouse.click(x, y)
    return index


def _box_middle(page, nth: int = 0) -> tuple[set, set]:
    """Box-select the middle third of the nth map with the toolbar's Box Select.

    Returns the indices of the points inside the box shrunk and grown by 2 px: what plotly
    selects lies between the two (a point on an edge may go either way).
    """
    pts = page.evaluate(POINTS_JS, nth)
    xs, ys, n = sorted(p[0] for p in pts), sorted(p[1] for p in pts), len(pts)
    # edges halfway between neighbouring points, a third of the way in: tens of points, not all
    x0, x1 = (xs[n // 3] + xs[n // 3 + 1]) / 2, (xs[2 * n // 3] + xs[2 * n // 3 + 1]) / 2
    y0, y1 = (ys[n // 3] + ys[n // 3 + 1]) / 2, (ys[2 * n // 3] + ys[2 * n // 3 + 1]) / 2
    plot = page.locator(".js-plotly-plot").nth(nth)
    plot.hover()                                    # the toolbar shows on hover
    plot.locator('[data-title="Box Select"]').click()
    page.mouse.move(x0, y0)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(x0 + (x1 - x0) * k / 10, y0 + (y1 - y0) * k / 10)
    page.mouse.up()
    return tuple({p[2] for p in pts if x0 - m < p[0] < x1 + m and y0 - m < p[1] < y1 + m} for m in (-2, 2))


def _highlighted(page, nth: int = 0) -> set:
    """Indices in the nth map's "selected" trace, once the page has redrawn it."""
    page.wait_for_function("(i) => document.querySelectorAll('.js-plotly-plot')[i]._fullData"
                           ".some(t => t.name === 'selected')", arg=nth)
    return set(page.evaluate("(i) => document.querySelectorAll('.js-plotly-plot')[i]._fullData"
                             ".find(t => t.name === 'selected').customdata.map(c => Number(c[0]))", nth))


def test_a_click_on_a_point_in_explore_shows_that_point(app):
    page, shots = _open(app, "explore", 1)
    page.get_by_text("Click a point").wait_for()
    index = _click_point(page)
    page.get_by_role("heading", name=f"Point #{index}:").wait_for()
    page.get_by_text("Nearest neighbours in latent space").wait_for()
    _shot(page, shots, "explore-click")
    no_exception(page)


def test_a_box_in_explore_shows_a_grid_of_every_selected_point(app):
    page, shots = _open(app, "explore", 1)
    inner, outer = _box_middle(page)
    assert 2 <= len(inner) and len(outer) <= 64                    # the grid shows them all
    heading = page.get_by_role("heading", name="points selected")
    heading.wait_for()
    chosen = _highlighted(page)
    assert inner <= chosen <= outer                                # the box's points, highlighted
    assert heading.text_content().startswith(f"{len(chosen)} points selected")
    for what in ("inputs", "reconstructions"):
        page.locator('[data-testid="stImage"]').filter(has_text=f"{len(chosen)} {what}").locator("img").wait_for()
    assert page.get_by_role("heading", name="Point #").count() == 0     # not only the first point
    _shot(page, shots, "explore-box")
    no_exception(page)


def test_a_click_on_a_point_in_compare_selects_it_in_every_map(app):
    page, shots = _open(app, "", 3)
    page.get_by_text("Tip:").wait_for()
    index = _click_point(page, 1)
    page.get_by_text("1 point selected").wait_for()
    page.get_by_role("heading", name="Selected points (1)").wait_for()
    page.get_by_text(f"inputs #{index}", exact=True).wait_for()
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every("
                           "gd => gd._fullData.some(t => t.name === 'selected'))")
    _shot(page, shots, "compare-click")
    no_exception(page)


def test_compare_clears_its_selection_the_way_its_caption_says(app):
    page, shots = _open(app, "", 3)
    inner, outer = _box_middle(page, 0)         # the box works on the old page too: only the clear differs
    page.get_by_text(" points selected").wait_for()
    assert inner <= _highlighted(page, 2) <= outer
    # a double-click cannot clear (see widgets.clear_selection_button), so no text may promise it
    assert page.get_by_text("double-click").count() == 0
    page.get_by_role("button", name="Clear selection").click()
    page.get_by_text("Tip:").wait_for()
    assert page.get_by_role("heading", name="Selected points").count() == 0
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].every("
                           "gd => !gd._fullData.some(t => t.name === 'selected'))")
    _shot(page, shots, "compare-cleared")
    no_exception(page)
