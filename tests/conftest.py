"""Shared fixtures and builders: tiny seeded data, checkpoints, zips, AppTest pages, a temp cache.

Everything a test module would otherwise write again lives here once: import
the builders with ``from conftest import ...``; fixtures are found by name.
"""
import io
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

REAL_DATA = Path(os.environ.get("AEVIZ_DATA_DIR", "/nonexistent-aeviz-data"))
REPO = Path(__file__).resolve().parents[1]
PAGES = REPO / "aeviz" / "ui" / "pages"
TINY_MODELS = (("tiny-ae2", "ae", 2), ("tiny-vae4", "vae", 4))     # user models the page tests open


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("AEVIZ_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("AEVIZ_MODELS_DIR", str(root / "models"))
    # page tests are written on the small 8x8 digits; tests of the offline default set it back
    monkeypatch.setenv("AEVIZ_DEFAULT_DATASET", "digits")


@pytest.fixture
def tiny_images() -> np.ndarray:
    """64 seeded 8x8 'images' in [0, 1]: (64, 1, 8, 8) float32."""
    return np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)


@pytest.fixture(scope="session")
def digits():
    """The embedded scikit-learn digits (8x8), loaded once per run."""
    from aeviz.data.registry import load_dataset
    return load_dataset("digits")


def real_data_dir(name: str) -> Path:
    """The real-data folder for ``name``, or skip the test when it is absent."""
    folder = REAL_DATA / name
    if not folder.is_dir():
        pytest.skip(f"real {name} data not found (set AEVIZ_DATA_DIR to a folder holding {name}/)")
    return REAL_DATA


def tiny_checkpoint(folder: Path, family: str = "ae", latent_dim: int = 2, seed: int = 0,
                    **save) -> Path:
    """A seeded untrained digits-shaped model saved at ``folder`` (kept if already there)."""
    from aeviz.models.checkpoint import save_checkpoint
    from aeviz.models.config import ModelConfig
    from aeviz.training.loop import seeded_model
    if (folder / "config.json").is_file():
        return folder
    cfg = ModelConfig(family=family, input_shape=(1, 8, 8), hidden=(16,), latent_dim=latent_dim)
    return save_checkpoint(folder, seeded_model(cfg, seed), dataset_name="digits", **save)


def page_app(page: str, **seed):
    """An AppTest of ``aeviz/ui/pages/<page>.py`` with the tiny user models saved and ``seed``
    written into session state (keys from ``aeviz.ui.state``), Explore's model set to tiny-ae2."""
    from streamlit.testing.v1 import AppTest

    from aeviz.core.paths import user_models_dir
    from aeviz.ui import state
    for name, family, dim in TINY_MODELS:
        tiny_checkpoint(user_models_dir() / name, family, dim)
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
    at.session_state[state.EXPLORE_MODEL] = "user:tiny-ae2"
    for key, value in seed.items():
        at.session_state[key] = value
    return at


def zip_bytes(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``entries``: a dict name -> bytes, or (name or ZipInfo, bytes) pairs (duplicates allowed)."""
    pairs = entries.items() if isinstance(entries, dict) else entries
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # zipfile warns about duplicate names
        with zipfile.ZipFile(buf, "w", compression) as zf:
            for name, data in pairs:
                zf.writestr(name, data)
    return buf.getvalue()


def run_main(argv: list[str]) -> tuple[int, str]:
    """``python -m aeviz ARGV`` in-process: (exit code, stderr)."""
    import contextlib
    from aeviz.cli.main import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:          # argparse's exit for a bad flag
            code = e.code
    return code, err.getvalue()
