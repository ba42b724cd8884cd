"""Train: configure a model, train it in the background, watch the loss, keep the result.

Training runs in a thread (``aeviz.training.jobs``): the page polls it
from a ``st.fragment(run_every=...)``, so the rest of the session stays
responsive and other sessions are never blocked. Sizes and estimated compute
are capped and at most ``MAX_CONCURRENT`` trainings run at once per server;
later ones queue. A name being trained by another session is refused.
A finished model is saved in the user models folder and shows up in every
model picker as "(yours)".
"""
from __future__ import annotations

import streamlit as st

from aeviz.render import figures
from aeviz.models.config import (AUGMENTS, BACKBONES, DEFAULT_HIDDEN, LIKELIHOODS, LR_SCHEDULES, MAX_AUGMENT_STRENGTH,
                          NOISES, ModelConfig, TrainConfig)
from aeviz.core import limits, owned
from aeviz.core.errors import ConfigError
from aeviz.models import compute
from aeviz.models.families import MODELS
from aeviz.core.paths import pretrained_dir, safe_name, user_models_dir
from aeviz.ui import cache, datasets, query, sources, state, widgets
from aeviz.ui.family_fields import family_widgets
from aeviz.ui.text import md, plain
from aeviz.training import jobs as tj

JOB = "aeviz.train.job"             # this session's TrainingJob (one at a time)
ADOPTED = "aeviz.train.adopted"     # the saved path already selected in the other views
SETTINGS = "_w.train."              # every setting's widget key starts so: all survive a page switch
ACTIONS = ("_w.train.cancel", "_w.train.save_good")   # buttons under that prefix: not settings
NAME = "_w.train.name"
AUTO_NAME = "aeviz.train.auto_name"    # the default "Save as" name last shown
POLL_S = 1.0
BATCH_SIZES = (16, 32, 64, 128, 256, 512)
LRS = (1e-4, 3e-4, 1e-3, 2e-3, 3e-3, 1e-2, 3e-2)
HIDDEN_LABEL = {"mlp": "Hidden sizes", "conv": "Conv channels", "linear": "Hidden sizes (none)"}


def main() -> None:
    query.init()
    state.keep_widgets(SETTINGS, skip=ACTIONS)
    with st.sidebar:
        dataset = widgets.dataset_picker()
    st.title("Train a model")
    st.markdown("Choose an architecture and train it on this server. Progress and loss curves update "
                "every epoch; the rest of the app stays usable while it runs. The result is saved under "
                "your models and appears in every model picker as **(yours)**.")
    job: tj.TrainingJob | None = st.session_state.get(JOB)
    busy = job is not None and not job.snapshot().finished
    with widgets.guard():
        ds = cache.get_dataset(dataset)
        spec = config_form(ds, dataset)
        c1, c2 = st.columns([1, 3])
        start = c1.button("Start training", type="primary", disabled=busy or spec is None)
        c2.caption(md("At most {} trainings run at once on this server ({} running, {} waiting); "
                      "later ones queue.", tj.MAX_CONCURRENT, tj.running_count(), tj.queued_count()))
        if start and spec is not None:
            x_train, x_test = ds.x_train, ds.x_test
            job = tj.TrainingJob(spec, x_train, x_test, y_train=ds.y_train).start()
            st.session_state[JOB] = job
            st.session_state.pop(ADOPTED, None)
            state.own_models().add(spec.save_name)     # this session may now replace it
    if job is not None:
        st.divider()
        poll = not job.snapshot().finished
        st.fragment(progress_panel, run_every=POLL_S if poll else None)(job, poll)
    your_models()


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise ConfigError(f"{what} must be whole numbers separated by commas, e.g. 256,128; got {text!r}") from None
    if not 1 <= len(vals) <= limits.APP_MAX_LAYERS or any(not 1 <= v <= limits.APP_MAX_WIDTH for v in vals):
        raise ConfigError(f"{what}: give 1 to {limits.APP_MAX_LAYERS} sizes between 1 and "
                          f"{limits.APP_MAX_WIDTH}; got {text!r}")
    return vals


def config_form(ds, dataset: str) -> tj.JobSpec | None:
    """Draw the settings; returns a validated JobSpec, or None after showing what is wrong."""
    c = st.columns(4)
    families = list(MODELS)
    family = c[0].selectbox("Model family", families, index=families.index(ModelConfig().family),
                            format_func=lambda f: f"{f} — {MODELS[f].help}", key="_w.train.family")
    cls = MODELS[family]
    fitted = cls.closed_form            # PCA: no backbone, likelihood or training settings
    backbones = [b for b in BACKBONES if ds.is_image or b != "conv"]
    backbone = c[1].selectbox("Backbone", backbones, key="_w.train.backbone", disabled=fitted,
                              help="mlp: fully connected. conv: stride-2 convolutions (images only). "
                                   "linear: no hidden layer (with the Bernoulli likelihood: logistic PCA).")
    hidden_text = c[2].text_input(HIDDEN_LABEL[backbone], ",".join(map(str, DEFAULT_HIDDEN[backbone])),
                                  key=f"_w.train.hidden.{backbone}", disabled=fitted or backbone == "linear",
                                  help=f"Up to {limits.APP_MAX_LAYERS} layers, each at most {limits.APP_MAX_WIDTH}.")
    latent = c[3].number_input("Latent size", 1, limits.APP_MAX_LATENT, 2, key="_w.train.latent",
                               help="2 gives a map that is the latent space itself.")
    c = st.columns(4)
    beta = c[0].number_input("beta (KL weight)", 0.05, 20.0, 1.0, step=0.5, key="_w.train.beta",
                             disabled="beta" not in cls.uses, help="beta > 1: a beta-VAE (more disentangled, blurrier).")
    warmup = c[1].number_input("KL warm-up epochs", 0, limits.APP_MAX_EPOCHS, 0, key="_w.train.warmup",
                               disabled=not cls.variational, help="KL weight ramps from 0 to beta over these epochs.")
    noise = c[2].selectbox("Noise", NOISES, key="_w.train.noise", disabled="noise" not in cls.uses)
    level = c[3].number_input("Noise level", 0.0, 0.95, 0.3, step=0.05, key="_w.train.level",
                              disabled="noise_level" not in cls.uses)
    c = st.columns(4)
    sparsity = c[0].number_input("Sparsity (L1 weight)", 0.0, 1.0, 1e-3, step=1e-3, format="%.4f",
                                 key="_w.train.sparsity", disabled="sparsity" not in cls.uses)
    likelihoods = list(LIKELIHOODS)
    likelihood = c[1].selectbox("Likelihood", likelihoods, index=0 if ds.is_image else likelihoods.index("gaussian"),
                                key="_w.train.likelihood", disabled=fitted,
                                help="bernoulli (cross-entropy) for data in [0, 1]; gaussian (squared error).")
    grad_clip = c[2].number_input("Gradient clip (0 = off)", 0.0, 100.0, 0.0, key="_w.train.clip")
    seed = c[3].number_input("Seed", 0, 2**31 - 1, 0, key="_w.train.seed")
    extra = family_widgets(cls)
    c = st.columns(4)
    epochs = c[0].number_input("Epochs", 1, limits.APP_MAX_EPOCHS, 30, key="_w.train.epochs", disabled=fitted)
    batch = c[1].select_slider("Batch size", BATCH_SIZES, 64, key="_w.train.batch", disabled=fitted)
    lr = c[2].select_slider("Learning rate", LRS, 2e-3, format_func=lambda v: f"{v:g}", key="_w.train.lr",
                            disabled=fitted)
    c2 = st.columns(4)
    schedule = c2[0].selectbox("Learning-rate schedule", LR_SCHEDULES, key="_w.train.schedule",
                               disabled=fitted, help="cosine: the rate decays to 0 by the last epoch.")
    augment = c2[1].selectbox("Augmentation", AUGMENTS if ds.is_image else ("none",), key="_w.train.augment",
                              disabled=fitted or not ds.is_image,
                              help="Random rotations, scalings and shifts (affine), plus smooth local warps "
                                   "(elastic) of each training batch: less memorising, better test error.")
    strength = c2[2].number_input("Augmentation strength", 0.0, MAX_AUGMENT_STRENGTH, 1.0, step=0.25,
                                  key="_w.train.strength", disabled=augment == "none",
                                  help="1 = rotations up to 8 degrees, shifts and warps of 1/28 of the side.")
    decay = c2[3].number_input("Weight decay", 0.0, 1.0, 0.0, step=1e-5, format="%.5f", key="_w.train.decay",
                               disabled=fitted)
    name = _name_input(c[3], f"{datasets.stem(dataset)}-{family}-{latent}")
    overwrite = st.checkbox("Overwrite a model with this name", key="_w.train.overwrite")
    watch = st.checkbox("Record a timeline (watch it form on the Timeline page)", True, key="_w.train.timeline",
                        disabled=fitted, help="Codes of up to 2,000 test images at 24 epochs and the weights "
                                              "at 3; a few MB at most beside the model.")
    try:
        epochs = 1 if fitted else int(epochs)
        if epochs * len(ds.x_train) > limits.APP_MAX_SAMPLES_SEEN:
            raise ConfigError(f"{epochs} epochs over {len(ds.x_train):,} images is more than this server "
                              f"allows per run ({limits.APP_MAX_SAMPLES_SEEN:,} images seen); use at most "
                              f"{limits.APP_MAX_SAMPLES_SEEN // len(ds.x_train)} epochs")
        hidden = (1,) if fitted else () if backbone == "linear" else _ints(hidden_text, "hidden sizes")
        model_cfg = ModelConfig(family=family, backbone=backbone if not fitted else "mlp",
                                input_shape=ds.sample_shape, latent_dim=int(latent), hidden=hidden,
                                beta=float(beta), likelihood=likelihood, noise=noise,
                                noise_level=float(level), sparsity=float(sparsity), **extra)
        if model_cfg.parameter_count() > limits.APP_MAX_PARAMETERS:
            raise ConfigError(f"this model would have about {model_cfg.parameter_count():,} parameters; "
                              f"the app allows {limits.APP_MAX_PARAMETERS:,}: use fewer or narrower layers")
        train_cfg = TrainConfig(epochs=epochs, batch_size=int(batch), lr=float(lr), seed=int(seed),
                                kl_warmup_epochs=int(warmup), grad_clip=float(grad_clip),
                                lr_schedule=schedule, augment=augment, augment_strength=float(strength),
                                weight_decay=float(decay))
        seconds = tj.check_compute(model_cfg, train_cfg, len(ds.x_train))
        spec = tj.JobSpec(model_cfg, train_cfg, dataset, safe_name(name.strip()), user_models_dir(), overwrite,
                          timeline=bool(watch) and not fitted)
    except ConfigError as e:
        st.error(plain(e), icon=":material/warning:")
        return None
    try:
        _check_owner(spec)
        tj.check_target(spec)
    except (ConfigError, owned.Busy) as e:     # a normal situation after a run, not a mistake
        st.warning(plain(e), icon=":material/front_hand:")
        return None
    st.caption(md("{:,} parameters (estimate) · {:,} training images · about {} of compute · saved to {}",
                  model_cfg.parameter_count(), len(ds.x_train), compute.duration(seconds), spec.target.name))
    return spec


def _name_input(col, base: str) -> str:
    """"Save as": "<base>-mine" (-2, -3 if taken, also by a shipped model: two models must not share
    a label in the pickers) until the user types a name. A keyed input keeps its first value, so a
    new default (another family or size) is written to its key, and only over the old default."""
    default = tj.free_name(user_models_dir(), f"{base}-mine", also=(pretrained_dir(),))
    ss = st.session_state
    if ss.get(NAME) in (None, ss.get(AUTO_NAME)) and ss.get(NAME) != default:
        ss[NAME] = default
    ss[AUTO_NAME] = default
    return col.text_input("Save as", key=NAME, help="Letters, digits, '.', '_' or '-'.")


def progress_panel(job: tj.TrainingJob, polling: bool) -> None:
    """Polled every POLL_S while the job runs; a full rerun when it ends stops the polling."""
    snap = job.snapshot()
    if polling and snap.finished:
        st.rerun()
    name = job.spec.save_name
    st.subheader(md("Training {}", name))
    if snap.state == "queued":
        st.info(md("Waiting for a free training slot (position {} in the queue): at most {} trainings run at "
                   "once on this server.", snap.queue_position, tj.MAX_CONCURRENT), icon=":material/hourglass_top:")
    text = f"epoch {snap.epoch} of {snap.epochs} · {snap.seconds:.0f} s"
    st.progress(snap.progress, text=text)
    if not snap.finished and st.button("Cancel training", key="_w.train.cancel"):
        job.cancel()
        st.caption("Cancelling after the current batch…")
    if snap.history:
        keys = ("train_loss", "test_loss")
        st.plotly_chart(figures.loss_curves(snap.history, keys=keys, title="Loss per epoch"),
                        key="_w.train.curves", config={"displaylogo": False})
    RESULTS.get(snap.state, lambda *a: None)(job, snap)


def _check_owner(spec: tj.JobSpec) -> None:
    """On a shared server a session may replace only the models it saved itself."""
    if spec.overwrite and spec.target.exists() and spec.save_name not in state.own_models():
        raise ConfigError(f"a model named {spec.save_name!r} was saved by another session or "
                          "earlier; it cannot be replaced from here. Choose another name.")


def _done(job: tj.TrainingJob, snap: tj.JobSnapshot) -> None:
    st.success(plain(snap.message), icon=":material/check_circle:")
    _adopt(job)


def _adopt(job: tj.TrainingJob) -> None:
    """Select the new model in the other views once (if it fits the current dataset)."""
    path = job.snapshot().saved_path
    if path is None or st.session_state.get(ADOPTED) == str(path):
        return
    st.session_state[ADOPTED] = str(path)
    if job.spec.dataset_name == state.dataset():
        model_id = f"user:{path.name}"
        state.put(state.EXPLORE_MODEL, model_id)
        st.info(md("{} is now selected on Explore, Interpolate, Decode and Export; add it on Compare from "
                   "the model list.", sources.model_label(model_id)))


def _diverged(job: tj.TrainingJob, snap: tj.JobSnapshot) -> None:
    st.error(md("{}\n\nWhat to change: pick a lower learning rate (try {:g}), set a gradient clip such as 5, "
                "or train fewer/narrower layers. With pixel data in [0, 1] the bernoulli likelihood is the "
                "stable choice.", snap.message, job.spec.train_config.lr / 10), icon=":material/error:")
    if snap.can_save_last_good and st.button(f"Save the last good weights (epoch {len(snap.history)})",
                                             key="_w.train.save_good"):
        with widgets.guard():
            job.save_last_good()
            _adopt(job)
            st.rerun()


def _cancelled(job: tj.TrainingJob, snap: tj.JobSnapshot) -> None:
    st.warning(plain(snap.message), icon=":material/stop_circle:")


def _failed(job: tj.TrainingJob, snap: tj.JobSnapshot) -> None:
    st.error(plain(snap.message), icon=":material/warning:")


RESULTS = {"done": _done, "diverged": _diverged, "cancelled": _cancelled, "failed": _failed}


def your_models() -> None:
    sources.recover_user_models()               # a save killed midway is put back, with a notice
    folder = user_models_dir()
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")
                   and (p / "config.json").is_file()) if folder.is_dir() else []
    with st.expander(f"Your models ({len(names)})", expanded=False):
        if not names:
            st.caption(md("None yet. Trained models are saved in {}.", folder))
        for n in names:
            st.markdown("- " + plain(sources.model_label("user:" + n)))


main()
