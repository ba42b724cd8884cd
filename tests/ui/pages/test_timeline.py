"""The Timeline page in AppTest: frames that play in the browser, decoding at a kept epoch, a GIF."""
import json


from aeviz.core.paths import user_models_dir
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.training import timeline as tl
from aeviz.training.loop import seeded_model, train
from conftest import page_app


def _watched(name: str, family: str, digits, **kw) -> str:
    cfg = ModelConfig(family=family, input_shape=(1, 8, 8), hidden=(16,), latent_dim=2)
    model = seeded_model(cfg, 0)
    rec = tl.Recorder(model, digits.x_test, 6, points=200, **kw)
    result = train(cfg, TrainConfig(epochs=6, seed=0), digits.x_train, model=model, on_epoch=rec.on_epoch)
    tl.save_with_timeline(user_models_dir() / name, result.model, rec.timeline(), dataset_name="digits",
                          history=result.history)
    return f"user:{name}"


def test_two_models_form_side_by_side_and_decode_at_a_kept_epoch(digits):
    ids = [_watched("tl-ae", "ae", digits), _watched("tl-vae", "vae", digits)]
    app = page_app("timeline", **{"_w.timeline.models": ids})
    app.run()
    assert not app.exception and not app.error, (app.exception, app.error)
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert [f["name"] for f in spec["frames"]] == [str(e) for e in tl.schedule(6)]
    assert len(spec["frames"][0]["data"]) == 2                       # both models move in one frame
    assert spec["layout"]["updatemenus"][0]["buttons"][0]["label"] == "▶ Play"
    first, last = spec["frames"][0]["data"][0], spec["frames"][-1]["data"][0]
    assert first["x"] != last["x"]
    slider = app.select_slider(key="_w.timeline.epoch")
    assert slider.options[0] == "0" and slider.value == 6
    slider.set_value(0).run()
    assert not app.exception and not app.error
    captions = [c for img in app.image for c in img.captions]
    assert any(c.endswith("at epoch 0") and "reconstruction" in c for c in captions), captions
    assert any(c == "prior samples decoded at epoch 0" for c in captions), captions
    app.button(key="_w.timeline.gif").click().run()
    gif = app.get("download_button")
    assert gif and not app.exception


def test_models_without_a_timeline_are_not_offered(digits):
    app = page_app("timeline", **{"aeviz.dataset": "moons"})
    app.run()
    assert not app.exception
    assert any("No model of this dataset has a training timeline" in i.value for i in app.info) or \
        app.multiselect(key="_w.timeline.models").options


def test_a_broken_timeline_is_reported_and_the_other_model_still_plays(digits):
    ids = [_watched("tl-ok", "ae", digits), _watched("tl-bad", "vae", digits)]
    (user_models_dir() / "tl-bad" / tl.FILE).write_bytes(b"PK\x03\x04 not a zip")
    app = page_app("timeline", **{"_w.timeline.models": ids})
    app.run()
    assert not app.exception
    assert any("tl-bad" in w.value and "cannot be shown" in w.value for w in app.warning)
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert len(spec["frames"][0]["data"]) == 1


def test_codes_only_timelines_still_play_and_decode_the_final_model(digits):
    ids = [_watched("tl-codes", "ae", digits, weight_frames=0)]
    app = page_app("timeline", **{"_w.timeline.models": ids})
    app.run()
    assert not app.exception and not app.error
    assert any("kept codes only" in c.value and "epoch 6" in c.value for c in app.caption)
    assert not app.select_slider and len(json.loads(app.get("plotly_chart")[0].proto.spec)["frames"]) == 7
