"""The Compare page (landing view) in Streamlit's AppTest: maps, linked selection, slider, metrics."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from aeviz.ui import state

APP = str(Path(__file__).resolve().parents[3] / "app.py")
TIMEOUT = 240           # the first run trains the small default models when pretrained/ lacks them


def _app(**seed) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in seed.items():
        at.session_state[k] = v
    return at


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _captions(at: AppTest) -> list[str]:
    return [c for img in at.image for c in img.captions]


def test_landing_view_shows_three_linked_maps_images_and_metrics():
    at = _app().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Compare latent spaces"
    specs = _specs(at)
    assert len(specs) == 3
    assert all(len(s["data"]) >= 10 for s in specs)             # one trace per digit class (+ stars)
    table = at.dataframe[0].value
    assert len(table) == 3 and "kNN accuracy" in table.columns
    assert table["KL (nats)"].iloc[0] == "—" and table["KL (nats)"].iloc[1] != "—"   # only the VAE has a KL
    assert all(v.endswith("%") for v in table["kNN accuracy"])
    caps = _captions(at)
    assert sum("at t = 0.50" in c for c in caps) == 3             # the same path decoded by each model
    assert not at.error


def _prior_match_shown(at: AppTest) -> dict[str, int]:
    """Model label -> the prior-match percentage written under its grid of prior samples."""
    import re
    found = [re.match(r"(.+?)\\?: a nearest-neighbour test tells its codes from prior draws (\d+)%", c)
             for c in _captions(at)]
    return {m[1]: int(m[2]) for m in found if m}


def test_the_landing_contrast_is_the_one_measured(monkeypatch):
    """The page says the AE's space has holes where the VAE's prior lands on codes: the statistic
    under its prior samples must say so too (offline default: the embedded 28x28 MNIST subset)."""
    monkeypatch.delenv("AEVIZ_DEFAULT_DATASET")
    at = _app().run()
    assert not at.exception, at.exception
    shown = _prior_match_shown(at)
    assert list(shown) == ["AE · mnist-ae-2", "VAE · mnist-vae-2", "AAE · mnist-aae-2"], shown
    ae, vae, aae = shown.values()
    assert ae > vae + 10 and ae > aae, shown          # README: 73% vs 56% (AAE 64%)
    table = at.dataframe[0].value
    # the metrics table shows the same statistic, one decimal more
    assert [round(float(v.rstrip("%"))) for v in table["prior match (1-NN)"]] == [ae, vae, aae]


def test_selection_in_one_map_is_highlighted_in_all_and_reconstructed():
    at = _app(**{state.SELECTION: [0, 5, 9]}).run()
    assert not at.exception, at.exception
    for spec in _specs(at):
        sel = [t for t in spec["data"] if t.get("name") == "selected"]
        assert len(sel) == 1 and sorted(int(c[0]) for c in sel[0]["customdata"]) == [0, 5, 9]
    assert any("Selected points (3)" in h.value for h in at.subheader)
    assert sum("reconstructed by" in c for c in _captions(at)) == 3


def test_clear_selection_unhighlights_every_map():
    at = _app(**{state.SELECTION: [0, 5, 9]}).run()
    assert any(c.value.startswith("3 points selected") for c in at.caption)
    at.button(key="_w.clear_selection").click().run()
    assert not at.exception, at.exception
    assert at.session_state[state.SELECTION] == []
    assert not [t for spec in _specs(at) for t in spec["data"] if t.get("name") == "selected"]
    assert not any("Selected points" in h.value for h in at.subheader)
    assert any(c.value.startswith("Tip: click a point") for c in at.caption)


def test_moving_the_slider_changes_the_decoded_images():
    at = _app().run()
    before = [img.value for img in at.image if any("at t =" in c for c in img.captions)]
    at.slider[0].set_value(0.9).run()
    assert not at.exception
    after = [img.value for img in at.image if any("at t =" in c for c in img.captions)]
    assert any("at t = 0.90" in c for c in _captions(at))
    assert before != after
    urls = [url for img in before + after for url in img]
    assert len(urls) == 6 and all(u.startswith("data:image/png;base64,") for u in urls)   # inline: no media file
    assert at.session_state[state.INTERP_T] == pytest.approx(0.9)


def test_a_shared_link_reopens_the_view():
    at = _app()
    at.query_params["dataset"] = "digits"
    at.query_params["models"] = "pretrained:digits-vae-2,pca:digits-2"
    at.query_params["proj"] = "pca"
    at.query_params["a"] = "10"
    at.query_params["b"] = "20"
    at.run()
    assert not at.exception and not at.warning
    assert len(_specs(at)) == 2
    assert at.session_state[state.ENDPOINTS] == [10, 20]
    assert any("(#10," in c.value for c in at.caption)


def test_a_malicious_link_is_ignored_with_a_warning():
    at = _app()
    at.query_params["models"] = "user:../../../etc"
    at.query_params["dataset"] = "/etc/passwd"
    at.run()
    assert not at.exception
    assert len(at.warning) == 2
    assert len(_specs(at)) == 3                                  # the default view instead


def test_a_broken_model_shows_an_error_and_the_others_still_draw(tmp_path):
    from aeviz.models.checkpoint import save_checkpoint
    from aeviz.models.config import ModelConfig
    from aeviz.models.families import build
    from aeviz.core.paths import user_models_dir
    folder = save_checkpoint(user_models_dir() / "broken-ae",
                             build(ModelConfig(family="ae", input_shape=(1, 8, 8), latent_dim=2, hidden=(8,))))
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    at = _app(**{state.DATASET: "digits", state.COMPARE_MODELS: ["user:broken-ae", "pca:digits-2"]}).run()
    assert not at.exception, at.exception
    assert at.error and "broken-ae" in at.error[0].value
    assert len(_specs(at)) == 1                                  # PCA's map is still there
