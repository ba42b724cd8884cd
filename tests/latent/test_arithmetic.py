import numpy as np
import pytest

from aeviz.core.errors import ConfigError
from aeviz.latent.arithmetic import (arithmetic, class_means, dim_ranges, plane_grid, set_dims,
                              traversal_grid)


def test_traversal_grid_shape_and_content():
    z = np.array([0.5, -1.0, 2.0])
    ranges = np.array([[-1, 1], [-2, 2], [0, 4]], dtype=float)
    grid = traversal_grid(z, ranges, n_steps=5)
    assert grid.shape == (3, 5, 3)
    np.testing.assert_allclose(grid[1, :, 1], [-2, -1, 0, 1, 2])
    # other coordinates stay at z
    np.testing.assert_array_equal(grid[1, :, 0], 0.5)
    np.testing.assert_array_equal(grid[1, :, 2], 2.0)
    sub = traversal_grid(z, ranges, n_steps=3, dims=[2])
    assert sub.shape == (1, 3, 3)
    np.testing.assert_allclose(sub[0, :, 2], [0, 2, 4])


def test_traversal_refuses_bad_dims():
    with pytest.raises(ConfigError, match="do not exist"):
        traversal_grid(np.zeros(2), np.zeros((2, 2)) + [0, 1], 4, dims=[5])
    with pytest.raises(ConfigError, match="ranges"):
        traversal_grid(np.zeros(2), np.zeros((3, 2)), 4)


def test_dim_ranges_cover_data_and_widen_dead_units():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(size=1000), np.zeros(1000)])
    r = dim_ranges(codes)
    assert -2.5 < r[0, 0] < -1.5 and 1.5 < r[0, 1] < 2.5
    np.testing.assert_allclose(r[1], [-0.5, 0.5])


def test_plane_grid_top_row_first():
    g = plane_grid((0, 2), (0, 1), n_cols=3, n_rows=2)
    np.testing.assert_allclose(g, [[0, 1], [1, 1], [2, 1], [0, 0], [1, 0], [2, 0]])
    with pytest.raises(ConfigError, match="low < high"):
        plane_grid((1, 0), (0, 1), 3)
    with pytest.raises(ConfigError, match="grid size"):
        plane_grid((0, 1), (0, 1), 100)


def test_set_dims_copies():
    z = np.zeros(3)
    out = set_dims(z, {1: 2.5})
    np.testing.assert_array_equal(out, [0, 2.5, 0])
    assert z[1] == 0


def test_class_means_and_arithmetic():
    codes = np.array([[0.0, 0], [2, 0], [10, 10], [12, 14]])
    classes, means = class_means(codes, np.array([3, 3, 7, 7]))
    assert list(classes) == [3, 7]
    np.testing.assert_allclose(means, [[1, 0], [11, 12]])
    out = arithmetic(codes[0], means[0], means[1], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(out, [[0, 0], [5, 6], [10, 12]])
    # alpha = 1 moves the mean of A exactly onto the mean of B
    np.testing.assert_allclose(arithmetic(means[0], means[0], means[1], 1.0)[0], means[1])
    with pytest.raises(ConfigError, match="same size"):
        arithmetic(np.zeros(2), np.zeros(3), np.zeros(3), 1.0)
