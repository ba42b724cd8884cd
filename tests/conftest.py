"""Shared fixtures: tiny seeded data, and a temp cache so tests never touch ~/.cache."""
import os
from pathlib import Path

import numpy as np
import pytest

REAL_DATA = Path(os.environ.get("AEVIZ_DATA_DIR", "/nonexistent-aeviz-data"))


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("AEVIZ_MODELS_DIR", str(root / "models"))


@pytest.fixture
def tiny_images() -> np.ndarray:
    """64 seeded 8x8 'images' in [0, 1]: (64, 1, 8, 8) float32."""
    return np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)


def real_data_dir(name: str) -> Path:
    """The real-data folder for ``name``, or skip the test when it is absent."""
    folder = REAL_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real {name} data not found (set AEVIZ_DATA_DIR to a folder holding {name}/)")
    return REAL_DATA
