"""Interpolate: walk a path between codes and watch the decoder morph one image into another.

Endpoints come from the map (click a point), from indices, or from classes
(class mean or a seeded random member). The path (linear or spherical,
through optional via points) is drawn on the map through the projection's
``transform``; the slider panel is a fragment, so moving it redraws only
the decoded image. Every step gets a trust value: its distance to the
nearest real code in units of the typical spacing between codes.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import pandas as pd
import streamlit as st

from aeviz.render import figures
from aeviz.render import images as imaging
from aeviz.core.errors import ConfigError, ProjectionError
from aeviz.latent.paths import GEODESIC, MAX_STEPS, METHODS as PATHS, class_mean, interpolate, random_member
from aeviz.ui import cache, query, sources, state, widgets
from aeviz.ui.text import md

MAP_KEY = "_w.interp.map"
CLICK_KEY = "aeviz.interp.click_sets"       # what a click on the map sets: "A" | "B" | "via"
VIA_KEY = "aeviz.interp.via"                # via-point indices as typed: "12, 40"
MAX_VIA = 6
URL_FIELDS = ("dataset", "split", "model", "proj", "a", "b", "t")
STEP_CAP = min(64, MAX_STEPS)               # per segment: a classroom machine decodes them all

INTRO = ("Pick two codes and walk between them: every step along the path is decoded. "
         "**Linear** paths cut straight through the latent space; **spherical** (slerp) paths keep "
         "the code's norm, which suits a VAE whose codes sit on a shell of the Gaussian. "
         "Watch the trust values: where a path leaves the data, the decoder is guessing.")


def main() -> None:
    dataset, split = widgets.page("Interpolate", INTRO)
    with widgets.guard():
        ds = cache.get_dataset(dataset)
        model_id, method = widgets.model_and_map(dataset, ds.sample_shape)
        if model_id is None:
            return
        x, y = ds.split(split)
        codes = cache.get_codes(model_id, dataset, split)
        waypoints, marks = endpoint_controls(codes, y, ds.class_names)
        prior = cache.get_model(model_id).model.prior()
        curved = prior is not None and not prior.euclidean        # sphere, hyperboloid
        kind, steps = path_controls(len(waypoints), prior.name if curved else None)
        path = interpolate(waypoints, steps, kind, prior.geodesic if curved else None)
        images = cache.decode(model_id, path.points)
        trust = cache.get_data_distance(model_id, dataset, split, state.seed()).ratio(path.points)
        left, right = st.columns([3, 2])
        with left:
            map_panel(model_id, dataset, split, method, codes, y, ds.class_names, path.points, marks)
        with right:
            walk_panel(images, trust, path.t, path.segment)
        filmstrip_panel(images, trust, ds.is_image)
        export_panel(images, ds.is_image, model_id)
    query.sync_to_url(URL_FIELDS)


# --- endpoints ----------------------------------------------------------------------

def endpoint_controls(codes: np.ndarray, y: np.ndarray,
                      class_names: tuple[str, ...]) -> tuple[np.ndarray, dict[str, object]]:
    """Waypoint codes (K, D) and map marks {name: index or (D,) code} from the chosen mode."""
    st.subheader("Endpoints")
    mode = st.radio("Pick endpoints by", ["points", "classes"], horizontal=True, key="_w.interp.mode",
                    format_func={"points": "points (click the map or type indices)",
                                 "classes": "classes"}.get)
    if mode == "classes":
        return _class_endpoints(codes, y, class_names)
    a, b = state.endpoints(len(y), y)
    c1, c2, c3 = st.columns([1, 1, 2])
    # Widgets show the canonical state each run and write back on change, so a click on
    # the map, a link or a test that seeds state.ENDPOINTS is never overridden by stale widgets.
    st.session_state["_w.interp.a"], st.session_state["_w.interp.b"] = a, b
    c1.number_input("A (point index)", 0, len(y) - 1, key="_w.interp.a", on_change=_set_end, args=(0,))
    c2.number_input("B (point index)", 0, len(y) - 1, key="_w.interp.b", on_change=_set_end, args=(1,))
    st.session_state["_w.interp.via"] = st.session_state.get(VIA_KEY, "")
    c3.text_input("Via points (indices, in order)", key="_w.interp.via", on_change=_set_via,
                  help=f"Up to {MAX_VIA} points the path passes through between A and B, e.g. 12, 40.")
    via = _parse_indices(st.session_state.get(VIA_KEY, ""), len(y))
    st.caption(md("A = #{} (a {}), B = #{} (a {})", a, class_names[y[a]], b, class_names[y[b]])
               + (md(", via {}", ", ".join(f"#{i}" for i in via)) if via else ""))
    order = [a, *via, b]
    marks = {"A": a, **{f"v{k + 1}": i for k, i in enumerate(via)}, "B": b}
    return codes[order].astype(np.float64), marks


def _set_end(which: int) -> None:
    ends = list(st.session_state[state.ENDPOINTS])
    ends[which] = int(st.session_state["_w.interp." + "ab"[which]])
    state.set_endpoints(*ends)


def _set_via() -> None:
    st.session_state[VIA_KEY] = st.session_state["_w.interp.via"]


def _parse_indices(text: str, n: int) -> list[int]:
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    if len(parts) > MAX_VIA:
        raise ConfigError(f"at most {MAX_VIA} via points, got {len(parts)}")
    bad = [p for p in parts if not p.isdigit() or int(p) >= n]
    if bad:
        raise ConfigError(f"via points must be point indices 0..{n - 1}, separated by commas; "
                          f"not understood: {', '.join(bad[:3])}")
    return [int(p) for p in parts]


def _class_endpoints(codes: np.ndarray, y: np.ndarray,
                     class_names: tuple[str, ...]) -> tuple[np.ndarray, dict[str, object]]:
    classes = list(range(len(class_names)))
    c1, c2, c3, c4 = st.columns(4)
    ca = c1.selectbox("Class A", classes, index=0, format_func=class_names.__getitem__, key="_w.interp.ca")
    cb = c2.selectbox("Class B", classes, index=min(1, len(classes) - 1),
                      format_func=class_names.__getitem__, key="_w.interp.cb")
    how = c3.radio("Use", ["mean", "member"], key="_w.interp.how",
                   format_func={"mean": "class-mean code", "member": "a random member"}.get)
    seed = c4.number_input("Seed", 0, 2**31 - 1, state.seed(), key="_w.interp.seed",
                           disabled=how == "mean")
    via_classes = st.multiselect("Via classes (in order)", classes, key="_w.interp.via_classes",
                                 format_func=class_names.__getitem__, max_selections=MAX_VIA)
    chain = [ca, *via_classes, cb]
    names = ["A", *[f"v{k + 1}" for k in range(len(via_classes))], "B"]
    if how == "mean":
        pts = np.stack([class_mean(codes, y, c) for c in chain])
        st.caption("Class means are averages of codes: they need not look like any real image.")
        return pts, dict(zip(names, pts))
    idx = [random_member(y, c, int(seed) + k) for k, c in enumerate(chain)]
    state.set_endpoints(idx[0], idx[-1])
    st.caption(md("Random members (seed {}): {}", seed, ", ".join(f"{n} = #{i}" for n, i in zip(names, idx))))
    return codes[idx].astype(np.float64), dict(zip(names, idx))


def path_controls(n_waypoints: int, curved_prior: str | None = None) -> tuple[str, int]:
    """``curved_prior``: the name of a curved prior the codes live on, whose geodesic is offered first."""
    c1, c2 = st.columns(2)
    kinds = ([GEODESIC] if curved_prior else []) + list(PATHS)
    names = {"linear": "linear", "slerp": "spherical (slerp)", GEODESIC: f"geodesic of the {curved_prior}"}
    kind = c1.radio("Path", kinds, horizontal=True, key="_w.interp.kind" + (f".{curved_prior}" if curved_prior else ""),
                    format_func=names.get,
                    help="The geodesic is the shortest path on the manifold the codes were placed on.")
    steps = c2.slider("Steps per segment", 2, STEP_CAP, 8, key="_w.interp.steps",
                      help=f"{n_waypoints - 1} segment(s); every step is decoded.")
    return kind, steps


# --- map ---------------------------------------------------------------------------

def _map_method(model_id: str, method: str) -> str:
    return "pca" if method == "latent" and sources.model_meta(model_id)["latent_dim"] != 2 else method


def map_points(model_id: str, dataset: str, split: str, method: str) -> np.ndarray:
    """The drawn map: for fitted projections their own embedding, so that paths mapped with
    ``transform`` land in the same picture (a cached map from another fit could differ)."""
    if method != "latent":
        with contextlib.suppress(ImportError):
            proj = cache.get_projector(model_id, dataset, split, method, {}, state.seed())
            if hasattr(proj, "embedding_"):
                return np.asarray(proj.embedding_, dtype=np.float64)
    return cache.get_map(model_id, dataset, split, method, {}, state.seed())


def to_map(model_id: str, dataset: str, split: str, method: str, points: np.ndarray) -> np.ndarray:
    """Codes (M, D) -> map coordinates (M, 2) through the fitted projection."""
    if method == "latent":
        return np.asarray(points[:, :2], dtype=np.float64)
    proj = cache.get_projector(model_id, dataset, split, method, {}, state.seed())
    return np.asarray(proj.transform(np.asarray(points, dtype=np.float32)), dtype=np.float64)


def _on_click() -> None:
    event = st.session_state.get(MAP_KEY)
    picked = figures.selected_indices(event.get("selection") if event else None)
    if len(picked) != 1:
        return
    i, target = picked[0], st.session_state.get(CLICK_KEY, "A")
    a, b = st.session_state[state.ENDPOINTS] or [0, 1]
    if target == "via":
        via = [p.strip() for p in st.session_state.get(VIA_KEY, "").split(",") if p.strip()]
        st.session_state[VIA_KEY] = ", ".join((via + [str(i)])[-MAX_VIA:])
    else:
        state.set_endpoints(i if target == "A" else a, i if target == "B" else b)


def map_panel(model_id: str, dataset: str, split: str, method: str, codes: np.ndarray, y: np.ndarray,
              class_names: tuple[str, ...], path_points: np.ndarray, marks: dict[str, object]) -> None:
    m = _map_method(model_id, method)
    pts = map_points(model_id, dataset, split, m)
    index_marks = {k: int(v) for k, v in marks.items() if isinstance(v, (int, np.integer))}
    fig = figures.latent_map(pts, y, class_names=class_names, marks=index_marks, height=440,
                             title=sources.model_label(model_id))
    try:
        figures.add_path(fig, to_map(model_id, dataset, split, m, path_points))
        for name, v in marks.items():
            if not isinstance(v, (int, np.integer)):       # class means: not a data point
                figures.add_marker(fig, to_map(model_id, dataset, split, m, np.asarray(v)[None])[0], name)
    except (ImportError, AttributeError, ProjectionError) as e:
        st.caption(md("The path cannot be drawn on a {} map here ({}).", m, e))
    fig.update_layout(dragmode="pan")
    st.plotly_chart(fig, key=MAP_KEY, on_select=_on_click, selection_mode=("points",),
                    config={"displaylogo": False})
    st.session_state.setdefault(CLICK_KEY, "A")      # canonical: kept while the radio is not drawn (an error)
    widgets.bound(st.radio, "Clicking a point sets", CLICK_KEY, options=["A", "B", "via"], horizontal=True,
                  format_func={"A": "endpoint A", "B": "endpoint B", "via": "adds a via point"}.get)
    note = "" if m == method else f" (the {codes.shape[1]}-D codes drawn with PCA)"
    st.caption(md("{} map{}; dotted line: the path, through the projection.", m, note))


# --- the walk (fragment) -----------------------------------------------------------

@st.fragment
def walk_panel(images: np.ndarray, trust: np.ndarray, t: np.ndarray, segment: np.ndarray) -> None:
    """Only this panel reruns when the slider moves: its inputs are already decoded."""
    n = len(images)
    start = int(round(float(st.session_state[state.INTERP_T]) * (n - 1)))
    step = st.slider("Step along the path", 0, n - 1, min(max(start, 0), n - 1), key="_w.interp.step")
    state.put(state.INTERP_T, round(step / max(1, n - 1), 4))
    query.sync_to_url(URL_FIELDS)                # the link keeps the position too
    r = float(trust[step])
    caption = f"step {step} of {n - 1} · segment {segment[step] + 1}, t = {t[step]:.2f}"
    widgets.show_samples(images[step:step + 1], caption=caption, size=220)
    st.metric("Distance to the nearest real code", f"{r:.2f} × typical spacing",
              help="0 = exactly a training/test code; about 1 = as far as neighbouring data points "
                   "are from each other; much larger = the decoder has seen nothing like it.")
    widgets.trust_notice(r)


def filmstrip_panel(images: np.ndarray, trust: np.ndarray, is_image: bool) -> None:
    st.subheader("Every step")
    if is_image:
        size = 56 if len(images) <= 24 else 40
        frames = [widgets.picture(img[None], size) for img in images]
        st.image(frames, caption=[f"{i} · {r:.1f}" for i, r in enumerate(trust)])
        st.caption("Caption: step · distance to the nearest real code (× typical spacing).")
    else:
        widgets.show_samples(images, caption="decoded coordinates per step")
    st.line_chart(pd.DataFrame({"distance to nearest code (× typical spacing)": trust}), height=160,
                  x_label="step")


def export_panel(images: np.ndarray, is_image: bool, model_id: str) -> None:
    if not is_image:
        st.caption("GIF and PNG exports need image data.")
        return
    scale = max(1, math.ceil(112 / max(images.shape[-2:])))
    stem = f"interpolation-{model_id.split(':', 1)[1]}"
    c1, c2, c3 = st.columns([1, 1, 2])
    bounce = c3.checkbox("GIF plays forward then back", value=True, key="_w.interp.bounce")
    c1.download_button("Download GIF", imaging.gif_bytes(images, scale=scale, bounce=bounce),
                       file_name=f"{stem}.gif", mime="image/gif", on_click="ignore")
    c2.download_button("Download PNG strip", imaging.png_bytes(imaging.filmstrip(images, pad=2, scale=scale)),
                       file_name=f"{stem}.png", mime="image/png", on_click="ignore")


main()
