"""The embedded MNIST subset: balanced seeded picks, IDX writing, and the shipped bytes reproduced."""
import numpy as np

from conftest import real_data_dir
from aeviz.data.idx import read_idx
from aeviz.data.loaders import IDX_FILES
from aeviz.data.registry import kin, load_dataset
from aeviz.data.subset import EMBEDDED, balanced_indices, idx_bytes, write_subset


def test_balanced_indices_take_as_many_of_each_class_and_repeat_with_the_seed():
    y = np.random.default_rng(0).integers(0, 4, 500)
    keep = balanced_indices(y, 40, seed=3)
    assert np.bincount(y[keep]).tolist() == [10, 10, 10, 10]
    assert len(set(keep)) == 40 and (np.diff(keep) > 0).all()
    assert np.array_equal(keep, balanced_indices(y, 40, seed=3))
    assert not np.array_equal(keep, balanced_indices(y, 40, seed=4))


def test_idx_bytes_round_trip_through_the_mnist_reader():
    a = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert np.array_equal(read_idx(idx_bytes(a), expect_ndim=3), a)


def test_the_embedded_subset_loads_as_28x28_digits_balanced_per_class():
    ds = load_dataset("mnist-small")
    assert ds.split("train")[0].shape == (4000, 1, 28, 28) and ds.split("test")[0].shape == (1000, 1, 28, 28)
    assert np.bincount(ds.split("test")[1]).tolist() == [100] * 10
    assert kin("mnist-small") == ("mnist-small", "mnist") and kin("digits") == ("digits",)


def test_the_shipped_subset_is_reproduced_byte_for_byte_from_mnist(tmp_path):
    source = real_data_dir("mnist") / "mnist"
    for path in write_subset(source, tmp_path, IDX_FILES):
        assert path.read_bytes() == (EMBEDDED / "mnist-small" / path.name).read_bytes(), path.name
    train = read_idx(source / IDX_FILES[0], expect_ndim=3)
    small = read_idx(EMBEDDED / "mnist-small" / IDX_FILES[0], expect_ndim=3)
    labels = read_idx(source / IDX_FILES[1], expect_ndim=1)
    assert np.array_equal(small, train[balanced_indices(labels, 4000)])   # MNIST's own train images
