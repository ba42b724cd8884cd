"""Figure builders: traces, selection highlighting, colours, selection read-back."""
import numpy as np
import plotly.graph_objects as go
import pytest

from aeviz.render import figures
from aeviz.core.errors import ProjectionError


@pytest.fixture
def pts_labels():
    rng = np.random.default_rng(0)
    return rng.normal(size=(30, 2)), np.repeat(np.arange(3), 10)


def test_one_trace_per_class_with_class_colours_and_indices(pts_labels):
    pts, labels = pts_labels
    fig = figures.latent_map(pts, labels, class_names=["zero", "one", "two"])
    assert [t.name for t in fig.data] == ["zero", "one", "two"]
    for c, trace in enumerate(fig.data):
        assert trace.marker.color == figures.PALETTE[c]
        idx = [int(row[0]) for row in trace.customdata]
        assert idx == list(range(10 * c, 10 * c + 10))            # customdata carries dataset indices
        np.testing.assert_allclose(trace.x, pts[labels == c, 0])
    assert isinstance(fig.data[0], go.Scatter)                    # small maps stay SVG


def test_maps_open_in_pan_mode_so_a_click_selects_a_point(pts_labels):
    # Streamlit turns clicks into selections only outside lasso / box mode (issue 14)
    assert figures.latent_map(*pts_labels).layout.dragmode == "pan"


def test_large_maps_use_webgl():
    pts = np.zeros((figures.GL_THRESHOLD + 1, 2))
    fig = figures.latent_map(pts, np.zeros(len(pts), dtype=int))
    assert isinstance(fig.data[0], go.Scattergl)


def test_selection_is_drawn_on_top_and_the_rest_dims(pts_labels):
    pts, labels = pts_labels
    plain = figures.latent_map(pts, labels)
    fig = figures.latent_map(pts, labels, selected=[3, 12, 99, -1])   # out-of-range ignored
    assert plain.data[0].marker.opacity > fig.data[0].marker.opacity == figures.DIM_OPACITY
    top = fig.data[-1]
    assert top.name == "selected"
    assert [int(r[0]) for r in top.customdata] == [3, 12]
    np.testing.assert_allclose(top.x, pts[[3, 12], 0])
    assert top.marker.line.color == figures.SELECTED_COLOR
    assert list(top.marker.color) == [figures.class_color(0), figures.class_color(1)]


def test_continuous_colour_single_trace_with_colorbar(pts_labels):
    pts, labels = pts_labels
    values = np.linspace(0, 1, 30)
    fig = figures.latent_map(pts, labels, color=values, color_title="error")
    assert len(fig.data) == 1
    np.testing.assert_allclose(fig.data[0].marker.color, values)
    assert fig.data[0].marker.colorbar.title.text == "error"
    with pytest.raises(ProjectionError, match="colour values"):
        figures.latent_map(pts, labels, color=values[:5])


def test_marks_path_and_cloud(pts_labels):
    pts, labels = pts_labels
    fig = figures.latent_map(pts, labels, marks={"A": 2, "B": 25})
    stars = [t for t in fig.data if t.name in ("A", "B")]
    assert [t.text[0] for t in stars] == ["A", "B"]
    assert stars[1].x[0] == pytest.approx(pts[25, 0])
    n = len(fig.data)
    figures.add_path(fig, pts[:5], current=2)
    figures.add_cloud(fig, np.ones((4, 2)))
    assert len(fig.data) == n + 3
    assert fig.data[-1].name == "posterior samples" and len(fig.data[-1].x) == 4


def test_bad_shapes_refused():
    with pytest.raises(ProjectionError, match=r"points \(N, 2\)"):
        figures.latent_map(np.zeros((5, 3)), np.zeros(5, dtype=int))
    with pytest.raises(ProjectionError):
        figures.latent_map(np.zeros((5, 2)), np.zeros(4, dtype=int))


def test_selected_indices_reads_customdata_of_any_trace():
    event = {"points": [{"customdata": [7, "1"]}, {"customdata": [3, "0"]}, {"customdata": [7, "1"]},
                        {"x": 1.0}, {"customdata": ["not a number"]}]}
    assert figures.selected_indices(event) == [3, 7]
    assert figures.selected_indices(None) == []
    assert figures.selected_indices({"points": []}) == []


def test_selection_round_trip_through_figure(pts_labels):
    """What plotly would send back for points of two traces maps to dataset indices."""
    pts, labels = pts_labels
    fig = figures.latent_map(pts, labels)
    event = {"points": [{"customdata": list(fig.data[1].customdata[4])},
                        {"customdata": list(fig.data[2].customdata[0])}]}
    assert figures.selected_indices(event) == [14, 20]


def test_loss_curves():
    hist = [{"epoch": 1, "train_loss": 3.0, "test_loss": 3.5}, {"epoch": 2, "train_loss": 2.0}]
    fig = figures.loss_curves(hist)
    assert [t.name for t in fig.data] == ["train loss", "test loss"]
    assert list(fig.data[0].y) == [3.0, 2.0]


HOSTILE = '<a href="http://evil">log in</a> %{customdata[0]} &amp;'


def test_user_text_is_literal_in_titles_legends_markers_and_hovers(pts_labels):
    pts, labels = pts_labels
    names = [HOSTILE] + [f"c{i}" for i in range(1, 10)]
    for fig in (figures.latent_map(pts, labels, class_names=names, marks={HOSTILE: 0}, title=HOSTILE),
                figures.latent_map(pts, labels, class_names=names, color=pts[:, 0], color_title=HOSTILE)):
        blob = fig.to_json()
        assert "<a href" not in blob and "&lt;a href=" in blob       # shown as typed, never a link
        for trace in fig.data:
            # user text never becomes part of a hovertemplate's own text (%{...} stays inert)
            assert "evil" not in (trace.hovertemplate or "")
    assert figures.latent_map(pts, labels, class_names=names).data[0].name.startswith("&lt;a href")
