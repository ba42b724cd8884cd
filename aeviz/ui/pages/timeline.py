"""Timeline: watch latent spaces form, epoch by epoch, side by side; decode at a recorded epoch.

The animation is one Plotly figure with a frame per recorded epoch: Play and the
slider run in the browser. Decoding needs the weights of an epoch, which
timelines keep for a few of them, so the server-side epoch picker offers those.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from aeviz.render import figures, timeline as tl_render
from aeviz.render.images import gif_bytes, image_grid
from aeviz.core.errors import AevizError
from aeviz.models.families import prior_draws
from aeviz.training import timeline as timeline_file
from aeviz.ui import cache, query, sources, state, widgets
from aeviz.ui.text import md

N_DECODED = 8
GIF = "aeviz.timeline.gif"           # (models it shows, GIF bytes), built on request
INTRO = ("How a latent space forms. Each model recorded the codes of the same (up to 2,000) test images at "
         "epochs spread over its training (more early, when most happens); **Play** runs the epochs in "
         "your browser. Trained from the same seed and data, an **AE** only spreads its codes to tell "
         "images apart, a **VAE** keeps them packed around N(0, I), an **AAE** pushes them into the "
         "shape of its prior. Wider codes are drawn by a PCA per epoch, each rotated onto the epoch before "
         "(Procrustes), so points move instead of jumping.")


def main() -> None:
    dataset, _ = widgets.page("Watch a latent space form", INTRO)
    with widgets.guard():
        ds = cache.get_dataset(dataset)
        ids = [m for m in sources.list_models(dataset, ds.sample_shape) if _has_timeline(m)]
        if not ids:
            st.info("No model of this dataset has a training timeline. Train one with "
                    "`python -m aeviz train --timeline ...`, or pick the digits dataset: its shipped "
                    "models have timelines.")
            return
        default = [m for m in (f"pretrained:{dataset}-{f}-2" for f in ("ae", "vae", "aae")) if m in ids] or ids[:1]
        st.session_state.setdefault("_w.timeline.models", default)
        with st.sidebar:
            models = st.multiselect("Models (1–3)", ids, key="_w.timeline.models",
                                    format_func=sources.model_label, max_selections=3)
        if not models:
            st.info("Pick at least one model in the sidebar.")
            return
        found = _readable(models)
        if not found:
            return
        models = list(found)
        epochs = found[models[0]][0].epochs
        same = [m for m in models if np.array_equal(found[m][0].epochs, epochs) and
                np.array_equal(found[m][0].index, found[models[0]][0].index)]
        if len(same) < len(models):
            st.warning(md("{} recorded other epochs or images than {}, so it is left out of the animation; "
                          "pick models trained with the same recipe.",
                          ", ".join(sources.model_label(m) for m in models if m not in same),
                          sources.model_label(models[0])))
        animation_panel(same, found, ds, epochs)
        epoch_panel(same, found, ds)
        export_panel(same, found, ds, epochs)
    query.sync_to_url(("dataset",))


def _readable(models: list[str]) -> dict:
    """model id -> (timeline, frames, how) for the models whose timeline reads; a warning for the others."""
    found = {}
    for m in models:
        try:
            found[m] = cache.get_timeline(m)
        except AevizError as e:
            st.warning(md("{}: its timeline cannot be shown: {}", sources.model_label(m), e))
    return found


def _has_timeline(model_id: str) -> bool:
    """Whether the model's folder holds a timeline, without loading (or training) the model."""
    ref = sources.parse_model_id(model_id)
    if ref.kind == "upload":
        ckpt = state.uploads().get(str(ref))
        path = ckpt.path if ckpt is not None else None
    else:
        path = ref.folder()
    return path is not None and (path / timeline_file.FILE).is_file()


def animation_panel(models, found, ds, epochs) -> None:
    timeline0 = found[models[0]][0]
    labels = ds.split(timeline0.split)[1][timeline0.index]
    titles = [f"{sources.model_label(m)} ({found[m][2]})" for m in models]
    fig = tl_render.animation([found[m][1] for m in models], epochs, labels, titles, ds.class_names)
    st.plotly_chart(fig, key="_w.timeline.animation", config={"displaylogo": False})
    st.caption(md("{} recorded epochs: {}. Colours are classes.", len(epochs), ", ".join(map(str, epochs))))


def epoch_panel(models, found, ds) -> None:
    """Loss curves with the chosen epoch marked; reconstructions and prior samples decoded at it."""
    choices = sorted(set.intersection(*(set(found[m][0].weight_epochs) | {int(found[m][0].epochs[-1])}
                                        for m in models)))
    if len(choices) > 1:
        epoch = st.select_slider("Decode at epoch (those whose weights were kept)", choices, value=choices[-1],
                                 key="_w.timeline.epoch")
    else:
        epoch = choices[0]
        st.caption(md("These timelines kept codes only (no weights of earlier epochs): decoded below is "
                      "the final model, epoch {}.", epoch))
    x, _ = ds.split(found[models[0]][0].split)
    shown = x[found[models[0]][0].index[:N_DECODED]]
    for col, m in zip(st.columns(len(models)), models):
        with col, widgets.guard(f"{sources.model_label(m)}: "):
            last = int(found[m][0].epochs[-1])
            model = cache.get_model(m).model if epoch == last else cache.get_model_at(m, epoch)
            hist = cache.get_model(m).history
            fig = figures.loss_curves(hist, title=f"{sources.model_label(m)}")
            fig.add_vline(x=epoch, line_dash="dot", line_color=figures.SELECTED_COLOR)
            st.plotly_chart(fig, key=f"_w.timeline.loss.{m}", config={"displaylogo": False})
            recon = model.decode_numpy(model.encode_numpy(shown))         # a VAE: its posterior means
            samples = model.decode_numpy(prior_draws(model, N_DECODED, state.seed()))
            if ds.is_image:
                scale = max(1, 40 // shown.shape[-1])           # 4 per row fit a third of the page
                pairs = np.stack([shown, recon], 1).reshape(-1, *shown.shape[1:])   # input, recon, ...
                widgets.show_picture(image_grid(pairs, n_cols=4, pad=1, scale=scale),
                                     f"input, reconstruction (pairs) at epoch {epoch}")
                widgets.show_picture(image_grid(samples, n_cols=4, pad=1, scale=scale),
                                     f"prior samples decoded at epoch {epoch}")
            else:
                widgets.show_samples(recon, caption=f"reconstructions at epoch {epoch}")



def export_panel(models, found, ds, epochs) -> None:
    timeline0 = found[models[0]][0]
    labels = ds.split(timeline0.split)[1][timeline0.index]
    if st.button("Build an animated GIF", key="_w.timeline.gif"):
        pictures = [tl_render.raster(found[m][1], labels) for m in models]     # (F, H, W, 3) each
        strip = np.concatenate([np.pad(p, ((0, 0), (0, 0), (0, 6), (0, 0)), constant_values=255)
                                for p in pictures], axis=2)
        st.session_state[GIF] = (tuple(models), gif_bytes(strip, duration_ms=300, scale=1))
    made_for, data = st.session_state.get(GIF, ((), b""))
    if made_for != tuple(models):            # built for other models: build again
        return
    if data:
        st.download_button("Download GIF", data, file_name="aeviz-timeline.gif", mime="image/gif",
                           key="_w.timeline.gif_download")


main()
