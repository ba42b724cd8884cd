"""AppTest of the Train page: a run started from the form, and seeded running/finished/diverged jobs."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from aeviz.models import families as models
from aeviz.models.checkpoint import load_checkpoint
from aeviz.models.priors import PRIORS
from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.data.registry import load_dataset
from aeviz.core.paths import user_models_dir
from aeviz.ui import state
from aeviz.training import jobs as tj

PAGE = str(Path(__file__).resolve().parents[3] / "aeviz" / "ui" / "pages" / "train.py")
JOB = "aeviz.train.job"


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=60)


def _job(name: str, epochs: int, family: str = "ae") -> tj.TrainingJob:
    ds = load_dataset("digits")
    spec = tj.JobSpec(ModelConfig(family=family, input_shape=(1, 8, 8), hidden=(8,), latent_dim=2),
                      TrainConfig(epochs=epochs, batch_size=256, seed=0), "digits", name,
                      user_models_dir(), overwrite=True)
    return tj.TrainingJob(spec, ds.x_train, ds.x_test)


def test_form_starts_a_run_that_saves_and_selects_the_model(app):
    app.run()
    assert not app.exception and not app.error
    assert "vae" in app.selectbox(key="_w.train.family").options[3] and \
        len(app.selectbox(key="_w.train.family").options) == len(models.MODELS)
    app.selectbox(key="_w.train.family").set_value("ae")
    app.number_input(key="_w.train.epochs").set_value(2)
    app.text_input(key="_w.train.hidden.mlp").set_value("8")
    app.text_input(key="_w.train.name").set_value("form-run")
    assert app.number_input(key="_w.train.strength").disabled          # no augmentation chosen yet
    app.selectbox(key="_w.train.schedule").set_value("cosine")
    app.selectbox(key="_w.train.augment").set_value("elastic").run()
    assert not app.number_input(key="_w.train.strength").disabled
    app.number_input(key="_w.train.strength").set_value(0.5)
    app.checkbox(key="_w.train.overwrite").check()
    app.button[0].click().run()
    job = app.session_state[JOB]
    assert job.join(60) and job.snapshot().state == "done"
    app.run()
    assert not app.exception and not app.error
    assert any("Saved as form-run" in s.value for s in app.success)
    assert app.session_state[state.EXPLORE_MODEL] == "user:form-run"
    saved = load_checkpoint(user_models_dir() / "form-run")
    assert saved.config.hidden == (8,)
    assert (saved.train_config.lr_schedule, saved.train_config.augment) == ("cosine", "elastic")
    assert saved.train_config.augment_strength == 0.5
    assert app.get("plotly_chart")                               # the loss curves


def test_family_widgets_follow_the_registry(app):
    app.run()
    for family, cls in models.MODELS.items():
        app.selectbox(key="_w.train.family").set_value(family).run()
        assert not app.exception and not app.error, family
        assert app.number_input(key="_w.train.beta").disabled == ("beta" not in cls.uses)
        assert app.selectbox(key="_w.train.noise").disabled == ("noise" not in cls.uses)
        assert app.number_input(key="_w.train.sparsity").disabled == ("sparsity" not in cls.uses)
        assert app.number_input(key="_w.train.epochs").disabled == cls.closed_form


def test_a_family_coefficient_without_its_own_widget_gets_one(app):
    app.run()
    app.selectbox(key="_w.train.family").set_value("cae").run()
    app.number_input(key="_w.train.contraction").set_value(0.3)
    app.number_input(key="_w.train.epochs").set_value(1)
    app.text_input(key="_w.train.hidden.mlp").set_value("8")
    app.text_input(key="_w.train.name").set_value("cae-run")
    app.checkbox(key="_w.train.overwrite").check().run()
    app.button[0].click().run()
    job = app.session_state[JOB]
    assert job.join(60) and job.snapshot().state == "done"
    saved = load_checkpoint(user_models_dir() / "cae-run")
    assert (saved.config.family, saved.config.contraction) == ("cae", 0.3)


def test_an_aae_gets_a_prior_picker_with_a_picture_and_trains_by_label(app):
    app.run()
    app.selectbox(key="_w.train.family").set_value("aae").run()
    assert app.selectbox(key="_w.train.prior").options == list(PRIORS)
    app.selectbox(key="_w.train.prior").set_value("mixture")
    app.checkbox(key="_w.train.prior_by_label").check()
    app.number_input(key="_w.train.epochs").set_value(2)
    app.text_input(key="_w.train.hidden.mlp").set_value("16")
    app.text_input(key="_w.train.name").set_value("aae-run")
    app.checkbox(key="_w.train.overwrite").check().run()
    assert not app.exception and not app.error
    pictures = [c for c in app.get("plotly_chart") if "prior_picture" in str(c.proto.id)]
    assert pictures and "mixture prior" in pictures[0].proto.spec
    app.button[0].click().run()
    job = app.session_state[JOB]
    assert job.join(60) and job.snapshot().state == "done", job.snapshot().message
    saved = load_checkpoint(user_models_dir() / "aae-run").config
    assert (saved.family, saved.prior, saved.prior_by_label) == ("aae", "mixture", True)
    assert (user_models_dir() / "aae-run" / "timeline.npz").is_file()       # recorded by default


def test_the_default_name_is_never_a_shipped_models_and_follows_the_settings(app, monkeypatch, tmp_path):
    from aeviz.ui import sources
    shipped = tmp_path / "zoo"
    (shipped / "digits-vae-2-mine").mkdir(parents=True)      # even a shipped "-mine" name is skipped
    monkeypatch.setenv("AEVIZ_PRETRAINED_DIR", str(shipped))
    app.run()
    name = app.text_input(key="_w.train.name")
    assert name.value == "digits-vae-2-mine-2"
    app.selectbox(key="_w.train.family").set_value("ae").run()    # untouched: the default follows
    assert app.text_input(key="_w.train.name").value == "digits-ae-2-mine"
    app.text_input(key="_w.train.name").set_value("typed").run()
    app.number_input(key="_w.train.latent").set_value(8).run()    # typed: it stays
    assert app.text_input(key="_w.train.name").value == "typed"
    # a model saved under the default name is told apart from the shipped one in every picker
    state.own_models().add("digits-vae-2-mine")
    tiny = tmp_path / "models"
    monkeypatch.setenv("AEVIZ_MODELS_DIR", str(tiny))
    from conftest import tiny_checkpoint
    tiny_checkpoint(tiny / "digits-vae-2-mine", "vae", 2)
    assert sources.model_label("user:digits-vae-2-mine") == "VAE · digits-vae-2-mine (yours)"


def test_bad_settings_are_refused_before_starting(app):
    app.run()
    app.text_input(key="_w.train.hidden.mlp").set_value("256,abc").run()
    assert any("whole numbers" in e.value for e in app.error) and app.button[0].disabled
    app.text_input(key="_w.train.hidden.mlp").set_value("64").run()
    app.text_input(key="_w.train.name").set_value("../up").run()
    assert any("invalid name" in e.value for e in app.error)


def test_existing_name_needs_overwrite(app):
    (user_models_dir() / "taken").mkdir(parents=True, exist_ok=True)
    app.session_state[state.OWN_MODELS] = {"taken"}            # saved earlier by this session
    app.run()
    app.text_input(key="_w.train.name").set_value("taken").run()
    assert any("already exists" in w.value for w in app.warning) and app.button[0].disabled
    app.checkbox(key="_w.train.overwrite").check().run()
    assert not app.warning and not app.button[0].disabled


def test_another_sessions_model_cannot_be_overwritten(app):
    (user_models_dir() / "theirs").mkdir(parents=True, exist_ok=True)
    app.run()
    app.text_input(key="_w.train.name").set_value("theirs").run()
    app.checkbox(key="_w.train.overwrite").check().run()
    assert any("another session" in w.value for w in app.warning) and app.button[0].disabled


def test_running_job_shows_progress_and_can_be_cancelled(app):
    job = _job("long-run", 5000).start()
    try:
        while job.snapshot().state != "running":
            time.sleep(0.02)
        app.session_state[JOB] = job
        app.run()
        assert not app.exception
        assert app.button[0].disabled                            # one job per session
        app.button(key="_w.train.cancel").click().run()
        assert job.join(10) and job.snapshot().state == "cancelled"
        app.run()
        assert any("Cancelled" in w.value for w in app.warning)
    finally:
        job.cancel()
        job.join(10)


def test_queued_job_says_it_waits(app):
    blockers = [_job(f"block{i}", 5000).start() for i in range(tj.MAX_CONCURRENT)]
    waiting = _job("waiting", 5000).start()
    try:
        while waiting.snapshot().queue_position != 1:
            time.sleep(0.02)
        app.session_state[JOB] = waiting
        app.run()
        assert any("Waiting for a free training slot" in i.value for i in app.info)
    finally:
        for job in blockers + [waiting]:
            job.cancel()
        assert all(job.join(10) for job in blockers + [waiting])


class _Diverges(models.Autoencoder):
    """Its loss turns NaN in the second epoch (digits: 6 batches of 256 per epoch)."""
    calls = 0

    def forward(self, x, generator=None, kl_weight=1.0):
        out = super().forward(x, generator, kl_weight)
        if self.training:
            type(self).calls += 1
            if type(self).calls > 6:
                out.loss = out.loss * float("nan")
        return out


def test_diverged_job_explains_and_can_keep_the_last_good_weights(app, monkeypatch):
    monkeypatch.setitem(models.MODELS, "ae", _Diverges)
    _Diverges.calls = 0
    job = _job("nan-run", 5).start()
    assert job.join(30) and job.snapshot().state == "diverged"
    app.session_state[JOB] = job
    app.run()
    assert not app.exception
    err = " ".join(e.value for e in app.error)
    assert "diverged" in err and "lower learning rate" in err
    app.button(key="_w.train.save_good").click().run()
    assert not app.exception
    assert len(load_checkpoint(user_models_dir() / "nan-run").history) == 1
    assert app.session_state[state.EXPLORE_MODEL] == "user:nan-run"


def test_a_name_another_session_is_training_is_refused_and_not_the_default(app):
    job = _job("digits-vae-2-mine", 5000).start()      # session A trains the default name
    try:
        while job.snapshot().state != "running":
            time.sleep(0.02)
        app.run()                                       # session B
        assert app.text_input(key="_w.train.name").value == "digits-vae-2-mine-2"
        assert not app.warning and not app.button[0].disabled
        app.text_input(key="_w.train.name").set_value("digits-vae-2-mine")
        app.checkbox(key="_w.train.overwrite").check().run()
        assert any("another training is writing" in w.value for w in app.warning)
        assert app.button[0].disabled
    finally:
        job.cancel()
        assert job.join(10)
