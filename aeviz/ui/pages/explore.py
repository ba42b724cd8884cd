"""Explore one latent space: a map of codes, coloured and projected as you choose.

Click or lasso points to see the input, its reconstruction and its nearest
neighbours in latent space. For a VAE, show posterior means, one sampled code
per point, or a cloud of posterior samples around the selected points.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from aeviz.render import figures
from aeviz.render.images import image_grid
from aeviz.models.families import describe
from aeviz.ui import cache, query, sources, state, widgets
from aeviz.ui.text import md, plain

MAP_KEY = "_w.explore.map"
COLOURS = {"label": "class label", "error": "reconstruction error", "variance": "posterior variance (VAE)"}
VAE_CODES = {"mean": "posterior mean", "sample": "one sampled z per point", "cloud": "cloud of samples"}
N_CLOUD = 40
N_PRIOR = 1000                 # prior draws drawn over the map
MAX_CLOUD_POINTS = 12
N_NEIGHBOURS = 8
GRID_SHOWN = 64                  # selected points shown in the grid (8 x 8)
GRID_COLS = 8


def main() -> None:
    query.init()
    dataset, split = widgets.sidebar()
    st.title("Explore a latent space")
    with widgets.guard():
        ds = cache.get_dataset(dataset)
        model_id = model_sidebar(dataset, ds.sample_shape)
        if model_id is None:
            st.info("No model fits this dataset yet: train one on the Train page or upload a checkpoint.")
            return
        ckpt = cache.get_model(model_id)
        st.caption(md("{} — {}. Hover a point for its label and index; click it to see images on the "
                      "right, or pick Box or Lasso Select in the map's toolbar and drag to select many.",
                      sources.model_label(model_id), describe(ckpt.model)))
        method, params = projection_sidebar(ckpt.config.latent_dim)
        colour, codes_mode = style_sidebar(ckpt.config.is_variational)
        prior = ckpt.model.prior()
        with st.sidebar:
            show_prior = prior is not None and st.checkbox(
                md("Show {:,} draws of the {} prior", N_PRIOR, prior.name), key="_w.explore.prior",
                help=f"The prior: {prior.help}. Where it puts its mass, mapped by the same projection: "
                     "codes that cover it leave few holes for sampling.")
        x, y = ds.split(split)
        left, right = st.columns([3, 2])
        with left, widgets.guard():
            draw_map(model_id, dataset, split, ds.class_names, y, method, params, colour, codes_mode,
                     bool(show_prior))
        with right, widgets.guard():
            detail_panel(model_id, dataset, split, x, y, ds.class_names)
    query.sync_to_url(("dataset", "split", "model", "proj", "a", "b"))


def model_sidebar(dataset: str, sample_shape: tuple[int, ...]) -> str | None:
    with st.sidebar:
        with st.expander("Upload a model"):
            before = set(state.uploads())
            new = widgets.upload_model()
            if new and new not in before:
                state.put(state.EXPLORE_MODEL, new)
            if new and new not in sources.list_models(dataset, sample_shape):
                shape = sources.model_meta(new)["input_shape"]
                st.warning(md("This model reads inputs of shape {}; {} has {}. Pick a matching dataset.",
                              shape, dataset, sample_shape))
        if not sources.list_models(dataset, sample_shape):
            return None
        return widgets.model_picker("Model", dataset, sample_shape)


def projection_sidebar(latent_dim: int) -> tuple[str, dict]:
    with st.sidebar:
        method = widgets.map_picker("Projection", help="latent: two code dimensions as they are; PCA: "
                                    "the best linear view; UMAP / t-SNE: non-linear maps that keep "
                                    "neighbours (slower).")
        saved = dict(state.get(state.PROJ_PARAMS))
        params: dict = {}
        if method == "latent" and latent_dim > 2:
            dims = st.multiselect("Code dimensions to plot", list(range(latent_dim)), max_selections=2,
                                  default=[d for d in saved.get("dims", [0, 1]) if d < latent_dim][:2] or [0, 1],
                                  key="_w.explore.dims")
            params["dims"] = tuple(dims) if len(dims) == 2 else (0, 1)
        elif method == "umap":
            params["n_neighbors"] = st.slider("UMAP neighbours", 5, 100, int(saved.get("n_neighbors", 15)),
                                              key="_w.explore.n_neighbors")
            params["min_dist"] = st.slider("UMAP min. distance", 0.0, 0.99, float(saved.get("min_dist", 0.1)),
                                           step=0.01, key="_w.explore.min_dist")
        elif method == "tsne":
            params["perplexity"] = st.slider("t-SNE perplexity", 5.0, 100.0, float(saved.get("perplexity", 30.0)),
                                             key="_w.explore.perplexity")
        state.put(state.PROJ_PARAMS, params)
    return method, params


def style_sidebar(variational: bool) -> tuple[str, str]:
    with st.sidebar:
        options = [k for k in COLOURS if variational or k != "variance"]
        colour = widgets.bound(st.radio, "Colour by", state.COLOR_BY, options=options,
                               format_func=COLOURS.get)
        codes_mode = "mean"
        if variational:
            codes_mode = widgets.bound(st.radio, "VAE codes", state.VAE_CODES, options=list(VAE_CODES),
                                       format_func=VAE_CODES.get,
                                       help="A VAE maps each input to a Gaussian q(z|x), not a point.")
    return colour, codes_mode


def _colour_values(enc: cache.Encoding, colour: str) -> tuple[np.ndarray | None, str]:
    if colour == "error":
        return enc.error, "squared error"
    if colour == "variance" and enc.logvar is not None:
        return np.exp(enc.logvar).mean(1), "mean posterior variance"
    return None, ""


def _on_select() -> None:
    event = st.session_state.get(MAP_KEY)
    state.set_selection(figures.selected_indices(event.get("selection") if event else None))


def draw_map(model_id: str, dataset: str, split: str, class_names: tuple[str, ...], y: np.ndarray,
             method: str, params: dict, colour: str, codes_mode: str, show_prior: bool = False) -> None:
    enc = cache.get_encoding(model_id, dataset, split)
    seed = state.seed()
    pts = cache.get_map(model_id, dataset, split, method, params, seed)
    if codes_mode in ("sample", "cloud"):
        proj = cache.get_projector(model_id, dataset, split, method, params, seed)
        std = None if enc.logvar is None else np.exp(0.5 * enc.logvar)
    if codes_mode == "sample":
        eps = np.random.default_rng(seed).standard_normal(enc.codes.shape).astype(np.float32)
        pts = np.asarray(proj.transform(enc.codes + eps * std), dtype=np.float32)
    values, title = _colour_values(enc, colour)
    sel = state.selection()
    fig = figures.latent_map(pts, y, class_names=class_names, color=values, color_title=title,
                             selected=sel, height=560)
    if codes_mode == "cloud":
        around = sel[:MAX_CLOUD_POINTS] or [state.endpoints(len(y), y)[0]]
        eps = np.random.default_rng(seed).standard_normal((N_CLOUD, len(around), enc.codes.shape[1]))
        cloud = enc.codes[around][None] + eps.astype(np.float32) * std[around][None]   # (S, P, D)
        figures.add_cloud(fig, np.asarray(proj.transform(cloud.reshape(-1, cloud.shape[-1]))))
    if show_prior:
        figures.add_cloud(fig, cache.get_prior_map(model_id, dataset, split, method, params, seed, N_PRIOR),
                          "prior draws", figures.PRIOR_COLOR)
    st.plotly_chart(fig, key=MAP_KEY, on_select=_on_select, selection_mode=("points", "box", "lasso"),
                    config={"displaylogo": False})
    st.caption(plain(_map_caption(method, codes_mode, len(y))))


def _map_caption(method: str, codes_mode: str, n: int) -> str:
    what = {"mean": "each point is the posterior mean (or the code) of one input",
            "sample": "each point is ONE random draw z ~ q(z|x): the spread shows the VAE's uncertainty",
            "cloud": f"the dots are {N_CLOUD} draws from q(z|x) for each selected point"}[codes_mode]
    return f"{n} points, {method} projection; {what}."


def detail_panel(model_id: str, dataset: str, split: str, x: np.ndarray, y: np.ndarray,
                 class_names: tuple[str, ...]) -> None:
    sel = state.selection()
    if not sel:
        st.info("Click a point on the map to see its image, its reconstruction and its nearest "
                "neighbours in latent space; Box or Lasso Select in the map's toolbar selects many.")
        return
    if len(sel) > 1:
        selection_grid(model_id, dataset, split, x, sel)
    else:
        point_detail(model_id, dataset, split, x, y, class_names, sel[0])
    widgets.clear_selection_button()


def selection_grid(model_id: str, dataset: str, split: str, x: np.ndarray, sel: list[int]) -> None:
    """Many selected points: a grid of their inputs over a grid of their reconstructions."""
    shown = sel[:GRID_SHOWN]
    st.subheader(md("{} points selected", len(sel)))
    st.caption(md("Showing the first {} (by index)" if len(sel) > len(shown) else "Showing all {}",
                  len(shown)) + ": the inputs, then their reconstructions in the same places.")
    recon = cache.decode(model_id, cache.get_codes(model_id, dataset, split)[shown])
    for images, what in ((x[shown], "inputs"), (recon, "reconstructions")):
        caption = f"{len(shown)} {what}"
        if x.ndim == 4:
            scale = max(1, 40 // images.shape[-1])    # 8x8 digits: 40 px cells, 8 fill the column
            widgets.show_picture(image_grid(images, n_cols=GRID_COLS, pad=1, scale=scale), caption)
        else:
            widgets.show_samples(images, caption)


def point_detail(model_id: str, dataset: str, split: str, x: np.ndarray, y: np.ndarray,
                 class_names: tuple[str, ...], i: int) -> None:
    """One selected point: input and reconstruction, nearest codes, and the endpoint buttons."""
    codes = cache.get_codes(model_id, dataset, split)
    recon = cache.decode(model_id, codes[i:i + 1])
    st.subheader(md("Point #{}: {}", i, class_names[y[i]]))
    pair = np.concatenate([x[i:i + 1], recon])
    if x.ndim == 4:
        widgets.show_images(pair, ["input", "reconstruction"], size=120)
    else:
        widgets.show_samples(pair, "input, then reconstruction")
    nn = cache.neighbours(codes, i, N_NEIGHBOURS)
    st.markdown("**Nearest neighbours in latent space**")
    widgets.show_samples(x[nn], caption=" ".join(f"{class_names[y[j]]}" for j in nn), size=48)
    same = float(np.mean(y[nn] == y[i]))
    st.caption(md("{:.0%} of its {} nearest codes share its label.", same, len(nn)))
    a, b = st.columns(2)
    if a.button("Set as endpoint A", help="Start of the interpolation on Compare and Interpolate"):
        state.set_endpoints(i, state.endpoints(len(y), y)[1])
    if b.button("Set as endpoint B", help="End of the interpolation on Compare and Interpolate"):
        state.set_endpoints(state.endpoints(len(y), y)[0], i)


main()
