"""Vector samples as a figure: points in the data's plane for 2-D data, a line per sample wider."""
import numpy as np
import pytest

from aeviz.core.errors import ProjectionError
from aeviz.render.samples import vector_samples


def test_2d_points_are_drawn_where_they_lie_in_the_unit_square():
    x = np.random.default_rng(0).random((5, 2))
    fig = vector_samples(x)
    (trace,) = fig.data
    assert np.allclose(trace.x, x[:, 0]) and np.allclose(trace.y, x[:, 1])
    assert list(trace.customdata) == [0, 1, 2, 3, 4]             # hover names the sample
    lo, hi = fig.layout.xaxis.range
    assert lo < 0 and hi > 1 and list(fig.layout.yaxis.range) == [lo, hi]   # the same square
    assert len(set(trace.marker.color)) == 5                     # colour follows sample order


def test_an_axis_widens_for_a_decoded_point_outside_the_data():
    fig = vector_samples(np.array([[1.6, -0.4]]))
    lo, hi = fig.layout.xaxis.range
    assert lo < -0.4 and hi > 1.6


@pytest.mark.parametrize("d", [3, 10, 40])
def test_wider_samples_are_one_line_each_over_their_features(d):
    x = np.random.default_rng(1).random((4, d))
    fig = vector_samples(x, height=200)
    assert len(fig.data) == 4 and fig.layout.height == 200
    for i, trace in enumerate(fig.data):
        assert list(trace.x) == list(range(1, d + 1)) and np.allclose(trace.y, x[i])


def test_1d_samples_lie_on_a_line():
    fig = vector_samples(np.array([[0.2], [0.7]]))
    assert list(fig.data[0].x) == [0.2, 0.7] and list(fig.data[0].y) == [0.0, 0.0]


@pytest.mark.parametrize("bad", [np.zeros((0, 2)), np.zeros(3), np.array([[np.nan, 0.0]]), np.zeros((2, 0))])
def test_bad_arrays_are_refused(bad):
    with pytest.raises(ProjectionError, match="finite \\(N, D\\)"):
        vector_samples(bad)
