"""Compare (landing view): two or three latent spaces of the same data, side by side.

Maps with linked selection, the same interpolation decoded by each model,
prior samples N(0, I) decoded by each, and a metrics table.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from aeviz.data.registry import noun
from aeviz.render import figures
from aeviz.render.images import image_grid
from aeviz.latent.paths import interpolate
from aeviz.ui import cache, query, sources, state, widgets
from aeviz.ui.text import md

MAP_KEY = "_w.compare.map.{}"
N_PRIOR = 16
N_STEPS = 8
MAX_SHOWN = 10

INTRO = ("The same {0}, encoded by models with the same encoder and decoder network. The "
         "**autoencoder** (AE) is only asked to reconstruct; the **variational autoencoder** (VAE) is "
         "also pulled towards a standard normal code distribution; the **adversarial autoencoder** "
         "(AAE) is pulled towards a prior of its own by a discriminator; **PCA** (add it in the sidebar) is "
         "the best *linear* "
         "code. Click a point, or select with the box or lasso in any map: the same {0} light up in "
         "the others.")
PRIOR_NOTE = ("Each model decodes 16 random codes from its prior: z ~ N(0, I) for the VAE and for a "
              "model without a prior (the AE), the chosen prior for an AAE. The VAE and the AAE were "
              "trained so that codes drawn this way land where their data's codes are; an AE was never "
              "told which codes are valid, so N(0, I) lands on its codes only by chance. The number under "
              "each grid measures it: a nearest-neighbour test on 2,000 codes against 2,000 draws of the "
              "prior. 50% means the test cannot tell them apart (the codes fill the prior, few holes); "
              "100% means the draws fall where no code is. (PCA samples its own Gaussian, scaled by "
              "each component's variance.)")


def main() -> None:
    dataset, split = widgets.page("Compare latent spaces", "")
    st.markdown(md(INTRO, noun(dataset)))        # {0}: what the dataset's items are
    with widgets.guard():
        ds = cache.get_dataset(dataset)
        with st.sidebar:
            models = widgets.models_picker("Models (2–3)", dataset, ds.sample_shape)
            method = widgets.map_picker()
        if not models:
            st.info("Pick at least one model in the sidebar.")
            return
        x, y = ds.split(split)
        maps_row(models, dataset, split, ds.class_names, y, method)
        selection_panel(models, dataset, split, x, y)
        interpolation_panel(models, dataset, split, y, ds.class_names)
        prior_panel(models, dataset, split)
        metrics_panel(models, dataset, split)
    query.sync_to_url()


def _method_for(model_id: str, method: str) -> str:
    """The raw latent plane only exists for 2-D codes; larger codes fall back to PCA."""
    if method == "latent" and sources.model_meta(model_id)["latent_dim"] != 2:
        return "pca"
    return method


def _on_select(key: str) -> None:
    event = st.session_state.get(key)
    state.set_selection(figures.selected_indices(event.get("selection") if event else None))


def maps_row(models: list[str], dataset: str, split: str, class_names: tuple[str, ...],
             y: np.ndarray, method: str) -> None:
    cols = st.columns(len(models))
    selected = state.selection()
    a, b = state.endpoints(len(y), y)
    for i, (col, model_id) in enumerate(zip(cols, models)):
        with col, widgets.guard(f"{sources.model_label(model_id)}: "):
            m = _method_for(model_id, method)
            pts = cache.get_map(model_id, dataset, split, m, {}, state.seed())
            fig = figures.latent_map(pts, y, class_names=class_names, selected=selected,
                                     marks={"A": a, "B": b}, height=380,
                                     title=sources.model_label(model_id))
            key = MAP_KEY.format(i)
            st.plotly_chart(fig, key=key, on_select=functools.partial(_on_select, key),
                            selection_mode=("box", "lasso", "points"), config={"displaylogo": False})
            if m != method:
                st.caption(md("Its {}-D codes are drawn with PCA; pick UMAP or t-SNE under Map for a "
                              "non-linear view.", sources.model_meta(model_id)['latent_dim']))
    n = len(selected)
    if not n:
        st.caption("Tip: click a point on any map, or pick Box or Lasso Select in a map's toolbar and "
                   "drag; stars A and B are the interpolation endpoints.")
        return
    left, right = st.columns([4, 1], vertical_alignment="center")
    left.caption(md("{} point{} selected, highlighted on every map.", n, "s" * (n != 1)))
    widgets.clear_selection_button(right)


def selection_panel(models: list[str], dataset: str, split: str, x: np.ndarray, y: np.ndarray) -> None:
    sel = state.selection()
    if not sel:
        return
    shown = sel[:MAX_SHOWN]
    st.subheader(md("Selected points ({}) and their reconstructions", len(sel)))
    widgets.show_samples(x[shown], caption=f"inputs #{', #'.join(map(str, shown))}", size=64)
    for model_id in models:
        with widgets.guard(f"{sources.model_label(model_id)}: "):
            codes = cache.get_codes(model_id, dataset, split)
            widgets.show_samples(cache.decode(model_id, codes[shown]), size=64,
                                 caption=f"reconstructed by {sources.model_label(model_id)}")
    if len(sel) >= 2 and st.button("Use the first and last selected points as A and B"):
        state.set_endpoints(sel[0], sel[-1])
        st.rerun()


def interpolation_panel(models: list[str], dataset: str, split: str, y: np.ndarray,
                        class_names: tuple[str, ...]) -> None:
    st.subheader("The same path, decoded by each model")
    a, b = state.endpoints(len(y), y)
    st.caption(md("A straight line in each latent space from point A (#{}, {}) to point B (#{}, {}). "
                  "Watch whether the in-between images stay like real {}: where a path crosses empty "
                  "space, the decoder shows images no training code produced.",
                  a, class_names[y[a]], b, class_names[y[b]], noun(dataset)))
    labels = {m: sources.model_label(m) for m in models}
    ends: dict[str, tuple] = {}
    for model_id in models:
        with widgets.guard(f"{labels[model_id]}: "):
            codes = cache.get_codes(model_id, dataset, split)
            ends[model_id] = (cache.get_model(model_id).model, codes[a], codes[b])
    slider_panel(ends, labels)
    cols = st.columns(len(models))
    for col, model_id in zip(cols, models):
        if model_id in ends:
            model, za, zb = ends[model_id]
            path = interpolate(np.stack([za, zb]), N_STEPS).points
            widgets.show_samples(model.decode_numpy(path), size=28, container=col,
                                 caption=f"A → B in {N_STEPS} steps")


@st.fragment
def slider_panel(ends: dict[str, tuple], labels: dict[str, str]) -> None:
    """Redrawn alone when the slider moves: one decode per model, nothing else.

    ends: model id -> (model, code of A, code of B), computed by the full run.
    """
    t = widgets.bound(st.slider, "Position between A and B", state.INTERP_T, min_value=0.0,
                      max_value=1.0, step=0.05)
    for col, (model_id, (model, za, zb)) in zip(st.columns(len(ends) or 1), ends.items()):
        now = model.decode_numpy(((1 - t) * za + t * zb)[None].astype(np.float32))
        widgets.show_samples(now, caption=f"{labels[model_id]} at t = {t:.2f}", size=140, container=col,
                             inline=True)


def prior_panel(models: list[str], dataset: str, split: str) -> None:
    st.subheader("Random codes from each model's prior, decoded")
    st.caption(PRIOR_NOTE)
    cols = st.columns(len(models))
    for col, model_id in zip(cols, models):
        with col, widgets.guard(f"{sources.model_label(model_id)}: "):
            _, images = cache.get_prior_images(model_id, N_PRIOR, state.seed())
            caption = prior_caption(sources.model_label(model_id),
                                    cache.get_metrics(model_id, dataset, split).get("prior_1nn_acc"))
            if images.ndim == 4:
                widgets.show_picture(image_grid(images, n_cols=4, pad=2, scale=max(1, 96 // images.shape[-1])),
                                     caption, col)
            else:
                widgets.show_samples(images, caption=caption, container=col)


def prior_caption(label: str, acc: float | None) -> str:
    """The prior-match statistic in words (the same ``prior_1nn_acc`` as the metrics table)."""
    if acc is None:
        return label
    verdict = ("its codes fill the prior" if acc < 0.6 else "partly" if acc < 0.8
               else "the draws mostly fall where no code is")
    return f"{label}: a nearest-neighbour test tells its codes from prior draws {acc:.0%} of the time ({verdict})"


# Table column -> (metrics key, format); the caption below explains each one.
METRIC_COLUMNS = {
    "recon. error (SSE / image)": ("sse_per_image", "{:.2f}"),
    "KL (nats)": ("kl", "{:.2f}"),
    "active dims": ("active_units", "{}"),
    "kNN accuracy": ("knn_acc_1", "{:.1%}"),
    "map trustworthiness": ("map_trustworthiness", "{:.3f}"),
    "prior match (1-NN)": ("prior_1nn_acc", "{:.1%}"),
}
METRIC_NOTE = ("**recon. error**: summed squared pixel error per test image (lower is better). "
               "**KL**: how far the VAE's codes are from N(0, I), in nats (only a VAE has one). "
               "**active dims**: code dimensions whose value varies across images. "
               "**kNN accuracy**: how often a code's nearest training code has the same label. "
               "**map trustworthiness**: how well the 2-D map keeps each image's neighbours (1 = perfectly). "
               "**prior match**: how often a nearest-neighbour classifier tells the codes from draws of the "
               "model's prior (50% = it cannot: the codes fill the prior; a VAE is scored on one draw "
               "z ~ q(z|x) per image). Models without a prior show —.")


def metrics_row(metrics: dict) -> dict[str, str]:
    row = {}
    for column, (key, fmt) in METRIC_COLUMNS.items():
        value = metrics.get(key)
        row[column] = "—" if value is None else fmt.format(value)
    if "active_units" in metrics:
        row["active dims"] = f"{metrics['active_units']} of {metrics.get('latent_dim', '?')}"
    return row


def metrics_panel(models: list[str], dataset: str, split: str) -> None:
    st.subheader("Metrics")
    rows = {}
    for model_id in models:
        with widgets.guard(f"{sources.model_label(model_id)}: "):
            rows[sources.model_label(model_id)] = metrics_row(cache.get_metrics(model_id, dataset, split))
    if rows:
        st.dataframe(pd.DataFrame(rows).T, width="stretch")
        st.caption(METRIC_NOTE)


main()
