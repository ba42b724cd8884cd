"""Decode anywhere: click any place on the map and see what the decoder makes of it.

For a 2-D latent space drawn as itself the map *is* the latent plane, so a
click is an exact code. Other maps are inverted through the projection
(``inverse_transform``), which is an estimate: the trust numbers say how far
the code lies from real codes and how well it maps back to where you clicked.
Below the map: a decoded grid over a region (the "manifold"), per-dimension
sliders and traversals (beta-VAE disentanglement), and latent arithmetic.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from aeviz.render import figures
from aeviz.render import images as imaging
from aeviz.core.errors import ProjectionError
from aeviz.latent.arithmetic import (PRIOR_RANGE, arithmetic, class_means, dim_ranges, plane_grid,
                              set_dims, traversal_grid)
from aeviz.models.families import MODELS
from aeviz.ui import cache, query, sources, state, widgets
from aeviz.ui.text import md

MAP_KEY = "_w.decode.map"
POINT = "aeviz.decode.point"        # [x, y] clicked map position
REGION = "aeviz.decode.region"      # [[x0, x1], [y0, y1]] box for the manifold grid
BASE = "aeviz.decode.base"          # fingerprint of the code the sliders started from
CATCHER = 64                        # invisible click targets per side, so empty places are clickable
MAX_SLIDERS = 16

INTRO = ("Every place on the map is a code the decoder can turn into an image, not only the places "
         "where data points sit. **Click anywhere** (an empty place is the interesting part) to decode "
         "it; select a **box** (box tool, top right of the map) to decode a whole grid over that region.")


def main() -> None:
    dataset, split = widgets.page("Decode anywhere", INTRO)
    with widgets.guard():
        ds = cache.get_dataset(dataset)
        model_id, method = widgets.model_and_map(dataset, ds.sample_shape)
        if model_id is None:
            return
        _, y = ds.split(split)
        codes = cache.get_codes(model_id, dataset, split).astype(np.float64)
        m = "pca" if method == "latent" and codes.shape[1] != 2 else method
        inv = Inverter(model_id, dataset, split, m, codes)
        pts = inv.map_points()
        left, right = st.columns([3, 2])
        with left:
            xy = map_panel(model_id, pts, y, ds.class_names, m, codes.shape[1])
        with right:
            z = point_panel(model_id, inv, xy)
        tabs = st.tabs(["Manifold grid", "Sliders", "Traversals", "Latent arithmetic"])
        with tabs[0], widgets.guard():
            manifold_panel(model_id, inv, pts, ds.is_image)
        is_vae = MODELS[sources.model_meta(model_id)["family"]].variational
        ranges = _ranges(codes, is_vae)
        with tabs[1], widgets.guard():
            sliders_panel(model_id, z, ranges)
        with tabs[2], widgets.guard():
            traversal_panel(model_id, z, ranges, codes, is_vae, ds.is_image)
        with tabs[3], widgets.guard():
            arithmetic_panel(model_id, codes, y, ds.class_names, ds.is_image)
    query.sync_to_url(("dataset", "split", "model", "proj"))


class Inverter:
    """Map position(s) (M, 2) -> codes (M, D), plus trust numbers."""

    def __init__(self, model_id: str, dataset: str, split: str, method: str, codes: np.ndarray):
        self.exact = method == "latent"
        self.args = (model_id, dataset, split, method, {}, state.seed())
        self.trust = cache.get_data_distance(model_id, dataset, split, state.seed())

    def map_points(self) -> np.ndarray:
        """The drawn map (N, 2): the fitted projection's own embedding, so that clicks are
        inverted by the same fit that drew the points."""
        if self.exact:
            return cache.get_map(*self.args).astype(np.float64)
        return np.asarray(self._projector().embedding_, dtype=np.float64)

    def codes(self, xy: np.ndarray) -> np.ndarray:
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        if self.exact:
            return xy.copy()
        proj = self._projector()
        if not hasattr(proj, "inverse_transform"):
            raise ProjectionError(f"the {self.args[3]} projection has no inverse here; "
                                  "pick the latent map (2-D models) or PCA")
        return np.asarray(proj.inverse_transform(xy.astype(np.float32)), dtype=np.float64)

    def _projector(self):
        try:
            return cache.get_projector(*self.args)
        except ImportError as e:          # aeviz.project missing from this build
            raise ProjectionError(f"decoding a {self.args[3]} map needs its inverse, which this "
                                  f"build lacks ({e}); use the latent map of a 2-D model") from None

    def map_trust(self, xy: np.ndarray) -> dict[str, float]:
        """Round-trip error and distance to mapped data, in map spacings (empty when exact)."""
        if self.exact:
            return {}
        from aeviz.maps.inverse import inverse_with_trust
        _, trust = inverse_with_trust(self._projector(), np.atleast_2d(xy).astype(np.float32))
        return {k: float(v[0]) for k, v in trust.items()}


def _ranges(codes: np.ndarray, is_vae: bool) -> np.ndarray:
    """Slider/traversal ranges: the data's central 96%, widened to the prior's +-3 for a VAE."""
    r = dim_ranges(codes)
    if is_vae:
        r[:, 0], r[:, 1] = np.minimum(r[:, 0], PRIOR_RANGE[0]), np.maximum(r[:, 1], PRIOR_RANGE[1])
    return r


# --- map and the clicked point ---------------------------------------------------

def _view(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The map's fixed axis ranges: the data's bounding box plus a margin."""
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.08 * (hi - lo) + 1e-6
    return lo - pad, hi + pad


def _catcher(lo: np.ndarray, hi: np.ndarray) -> go.Scatter:
    """A grid of invisible markers under the data filling the view: a click on an empty
    place hits one of them (plotly reports clicks on markers only)."""
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], CATCHER), np.linspace(lo[1], hi[1], CATCHER))
    hidden = dict(marker=dict(opacity=0))
    return go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", name="anywhere", showlegend=False,
                      marker=dict(size=9, opacity=0, color="black"), selected=hidden, unselected=hidden,
                      hovertemplate="decode (%{x:.2f}, %{y:.2f})<extra></extra>")


def _on_select() -> None:
    event = st.session_state.get(MAP_KEY)
    sel = (event or {}).get("selection") or {}
    boxes = sel.get("box") or []
    if boxes:
        b = boxes[-1]
        xs, ys = sorted(map(float, b.get("x", [0, 0]))), sorted(map(float, b.get("y", [0, 0])))
        if xs[1] > xs[0] and ys[1] > ys[0]:
            st.session_state[REGION] = [xs, ys]
        return
    points = sel.get("points") or []
    if points:
        st.session_state[POINT] = [float(points[-1]["x"]), float(points[-1]["y"])]


def map_panel(model_id: str, pts: np.ndarray, y: np.ndarray, class_names: tuple[str, ...],
              method: str, latent_dim: int) -> np.ndarray:
    if POINT not in st.session_state:
        st.session_state[POINT] = [float(v) for v in np.median(pts, 0)]
    xy = np.asarray(st.session_state[POINT], dtype=np.float64)
    fig = figures.latent_map(pts, y, class_names=class_names, height=460,
                             title=sources.model_label(model_id))
    for trace in fig.data:                           # a click must not dim the data
        trace.unselected = dict(marker=dict(opacity=trace.marker.opacity))
    lo, hi = _view(pts)
    fig = go.Figure(data=[_catcher(lo, hi), *fig.data], layout=fig.layout)
    # Fixed ranges; "domain" keeps them when the aspect ratio is locked, so the catcher fills the view.
    fig.update_xaxes(range=[lo[0], hi[0]], constrain="domain")
    fig.update_yaxes(range=[lo[1], hi[1]], constrain="domain")
    figures.add_marker(fig, xy, "decoded")
    region = st.session_state.get(REGION)
    if region:
        (x0, x1), (y0, y1) = region
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color="#444", dash="dash"))
    fig.update_layout(dragmode="pan")       # in "select" mode plotly turns clicks into nothing
    st.plotly_chart(fig, key=MAP_KEY, on_select=_on_select, selection_mode=("points", "box"),
                    config={"displaylogo": False})
    how = "exact: this map is the 2-D latent plane" if method == "latent" else \
        f"through the inverse of the {method} projection (an estimate)"
    st.caption(md("{} map of {}-D codes; decoding is {}. **Click** anywhere to decode that place. "
                  "**Box**: pick the box-select tool (top right of the map) and drag; the Manifold tab "
                  "decodes a grid over it.", method, latent_dim, how))
    c1, c2 = st.columns(2)
    st.session_state["_w.decode.x"], st.session_state["_w.decode.y"] = float(xy[0]), float(xy[1])
    c1.number_input("x", format="%.3f", key="_w.decode.x", on_change=_set_point)
    c2.number_input("y", format="%.3f", key="_w.decode.y", on_change=_set_point)
    return xy


def _set_point() -> None:
    st.session_state[POINT] = [float(st.session_state["_w.decode.x"]), float(st.session_state["_w.decode.y"])]


def point_panel(model_id: str, inv: Inverter, xy: np.ndarray) -> np.ndarray:
    """Decode the chosen place; returns its code (D,) for the other panels."""
    st.subheader("Decoded")
    z = inv.codes(xy)[0]
    widgets.show_samples(cache.decode(model_id, z[None]), caption=f"at ({xy[0]:.2f}, {xy[1]:.2f})", size=200)
    r = float(inv.trust.ratio(z[None])[0])
    st.metric("Distance to the nearest real code", f"{r:.2f} × typical spacing",
              help="0 = a real code; about 1 = as far as data points are from their neighbours.")
    widgets.trust_notice(r)
    trust = inv.map_trust(xy)
    if trust:
        st.caption(md("Round trip: the code maps back {:.2f} map spacings from where you clicked (0 = the "
                      "inverse found exactly this place); the nearest mapped data point is {:.2f} spacings "
                      "away. The inverse of a {} map is an estimate: trust it most near the data.",
                      trust['roundtrip_error_norm'], trust['nearest_distance_norm'], inv.args[3]))
    with st.expander("The code"):
        st.write(np.round(z, 3))
    return z


# --- panels ------------------------------------------------------------------------

def manifold_panel(model_id: str, inv: Inverter, pts: np.ndarray, is_image: bool) -> None:
    region = st.session_state.get(REGION)
    lo, hi = np.quantile(pts, [0.02, 0.98], axis=0)
    (x0, x1), (y0, y1) = region if region else ((lo[0], hi[0]), (lo[1], hi[1]))
    c1, c2 = st.columns([3, 1])
    n = c1.slider("Grid size", 4, 20, 10, key="_w.decode.grid")
    if region and c2.button("Whole map", key="_w.decode.reset_region"):
        st.session_state.pop(REGION)
        st.rerun()
    grid = plane_grid((x0, x1), (y0, y1), n)                       # (n*n, 2), top row first
    z = inv.codes(grid)
    images = cache.decode(model_id, z)
    where = "the latent plane" if inv.exact else "the map, inverted to codes"
    st.caption(md("{} x {} decoded points over x {:.2f}..{:.2f}, y {:.2f}..{:.2f} of {}", n, n, x0, x1, y0, y1,
                  where) + ("" if region else " (box-select a region on the map to zoom in)") + ".")
    if is_image:
        st.image(imaging.image_grid(images, n_cols=n, pad=1, scale=max(1, 480 // (n * images.shape[-1]))))
    else:
        widgets.show_samples(images, caption="decoded coordinates, row by row")


def _put_sliders(z: np.ndarray) -> None:
    """Move the sliders to ``z``: set before they are drawn (a keyed slider ignores a new default)."""
    st.session_state[BASE] = tuple(np.round(z, 6))
    for i in range(min(len(z), MAX_SLIDERS)):
        st.session_state[f"_w.decode.dim{i}"] = float(z[i])


@st.fragment
def sliders_panel(model_id: str, z: np.ndarray, ranges: np.ndarray) -> None:
    """One slider per latent dimension, starting at the decoded code; redrawn alone."""
    d = min(len(z), MAX_SLIDERS)
    if st.session_state.get(BASE) != tuple(np.round(z, 6)) or f"_w.decode.dim{d - 1}" not in st.session_state:
        _put_sliders(z)          # a new code (a click, typed x/y), or the sliders a page switch dropped
    st.button("Reset to the decoded code", key="_w.decode.reset", on_click=_put_sliders, args=(z,))
    left, right = st.columns([3, 2])
    values = {}
    with left:
        for i in range(d):
            lo, hi = float(min(ranges[i, 0], z[i])), float(max(ranges[i, 1], z[i]))
            values[i] = st.slider(f"z{i}", lo, hi, step=(hi - lo) / 100, key=f"_w.decode.dim{i}")
        if len(z) > d:
            st.caption(md("Showing the first {} of {} dimensions; the rest stay at the decoded code.",
                          d, len(z)))
    with right:
        widgets.show_samples(cache.decode(model_id, set_dims(z, values)[None]), size=200,
                             caption="decoded from the slider values")


def traversal_panel(model_id: str, z: np.ndarray, ranges: np.ndarray, codes: np.ndarray,
                    is_vae: bool, is_image: bool) -> None:
    st.caption("Each row changes one dimension of the decoded code from low to high; the others stay "
               "fixed. In a disentangled (beta-VAE) model a row changes one thing (slant, width...).")
    c1, c2 = st.columns(2)
    steps = c1.slider("Steps", 3, 15, 9, key="_w.decode.tsteps")
    use_prior = c2.toggle("Range: prior +-3 (else the data's range)", value=is_vae, key="_w.decode.prior")
    r = np.tile(PRIOR_RANGE, (len(z), 1)) if use_prior else dim_ranges(codes)
    dims = list(range(min(len(z), MAX_SLIDERS)))
    grid = traversal_grid(z, r, steps, dims)                       # (R, S, D)
    images = cache.decode(model_id, grid.reshape(-1, len(z)))
    if is_image:
        st.image(imaging.image_grid(images, n_cols=steps, pad=1, scale=max(1, 56 // images.shape[-1])),
                 caption=f"rows: z0 .. z{dims[-1]} (top to bottom); columns: low -> high")
    else:
        widgets.show_samples(images, caption="decoded coordinates, row by row")


def arithmetic_panel(model_id: str, codes: np.ndarray, y: np.ndarray, class_names: tuple[str, ...],
                     is_image: bool) -> None:
    st.caption("z + alpha x (mean of class B - mean of class A): move a point along the direction "
               "that separates two classes. Where the latent space is linear, an A turns into a B.")
    classes, means = class_means(codes, y)
    names = [class_names[int(c)] for c in classes]
    c1, c2, c3, c4 = st.columns(4)
    start = state.endpoints(len(y), y)[0]
    base = c1.number_input("Start point (index)", 0, len(y) - 1, start, key="_w.decode.abase")
    ia = c2.selectbox("Class A", range(len(classes)), index=int(np.flatnonzero(classes == y[base])[0]),
                      format_func=names.__getitem__, key="_w.decode.ca")
    ib = c3.selectbox("Class B", range(len(classes)), index=(ia + 1) % len(classes),
                      format_func=names.__getitem__, key="_w.decode.cb")
    top = c4.slider("Largest alpha", 0.5, 3.0, 1.0, step=0.25, key="_w.decode.alpha")
    alphas = np.linspace(0.0, top, 7)
    out = cache.decode(model_id, arithmetic(codes[base], means[ia], means[ib], alphas))
    caps = [f"alpha {a:.2f}" for a in alphas]
    if is_image:
        widgets.show_images(out, captions=caps, size=72)
    else:
        widgets.show_samples(out, caption=", ".join(caps))
    st.caption(md("Start: #{} (a {}); direction: {} -> {}.", base, class_names[y[base]], names[ia], names[ib]))


main()
