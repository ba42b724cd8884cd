"""Every shipped model opens in the app (Explore page) on the data available here."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from aeviz.zoo import recipes as zoo
from aeviz.models.checkpoint import CONFIG, read_json
from aeviz.data.registry import find_files, get_spec
from aeviz.ui import state
from aeviz.ui.text import plain

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "aeviz/ui/pages/explore.py"


@pytest.mark.parametrize("name", zoo.shipped_names())
def test_shipped_model_opens_in_explore(name):
    dataset = read_json(zoo.PRETRAINED_DIR / name / CONFIG, "config")["dataset"]
    spec = get_spec(dataset)
    if not spec.builtin and find_files(dataset) is None:
        pytest.skip(f"{dataset} data not found (set AEVIZ_DATA_DIR)")
    at = AppTest.from_file(APP, default_timeout=300)
    at.session_state[state.DATASET] = dataset
    at.session_state[state.EXPLORE_MODEL] = f"pretrained:{name}"
    at.session_state[state.PROJECTION] = "pca"
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[state.EXPLORE_MODEL] == f"pretrained:{name}"
    assert len(at.get("plotly_chart")) == 1
    assert plain(name) in " ".join(c.value for c in at.caption)      # labels are shown as plain text
