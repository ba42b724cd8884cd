"""Pure plotly figure builders: arrays in, ``go.Figure`` out; no Streamlit.

Every point carries ``customdata = [index, label text, ...]`` so a box or
lasso selection can be read back as dataset indices (``selected_indices``),
whatever trace the point sits in. Maps with more than ``GL_THRESHOLD`` points
use WebGL (``go.Scattergl``); smaller ones stay SVG so they render anywhere.
Every text that can come from a user (class, model and marker names, titles)
goes through ``core.text.plotly_literal`` and never into a hovertemplate's
own text, so Plotly's pseudo-HTML (``<a href>``) and ``%{...}`` stay literal.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from aeviz.core.errors import ProjectionError
from aeviz.core.text import plotly_literal

GL_THRESHOLD = 5000
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")   # Tableau 10, colour-blind-aware order
SELECTED_COLOR = "#111111"
PRIOR_COLOR = "#000000"           # draws of a prior, over codes or alone
DIM_OPACITY = 0.25
HOVER = "%{customdata[1]} · #%{customdata[0]}<extra></extra>"


def class_color(label: int) -> str:
    return PALETTE[int(label) % len(PALETTE)]


def _scatter_type(n: int, gl: bool | None) -> type:
    use_gl = n > GL_THRESHOLD if gl is None else gl
    return go.Scattergl if use_gl else go.Scatter


def _check(points: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points, dtype=np.float64)
    lab = np.asarray(labels)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(lab) != len(pts):
        raise ProjectionError(f"a map needs points (N, 2) and labels (N,); got {pts.shape} and {lab.shape}")
    return pts, lab


def latent_map(points: np.ndarray, labels: np.ndarray, *, class_names: Sequence[str] | None = None,
               color: np.ndarray | None = None, color_title: str = "", selected: Iterable[int] = (),
               marks: Mapping[str, int] | None = None, title: str = "", gl: bool | None = None,
               height: int = 420, marker_size: float | None = None) -> go.Figure:
    """Scatter of a 2-D map, one trace per class (or one continuous-colour trace).

    points (N, 2); labels (N,) ints; color (N,) floats switches to a colour
    scale; selected: indices drawn on top in black (the others dim); marks:
    named single points (e.g. {"A": 3, "B": 17}) drawn as labelled stars.
    """
    pts, lab = _check(points, labels)
    names = list(class_names) if class_names is not None else [str(c) for c in range(int(lab.max(initial=0)) + 1)]
    names = [plotly_literal(n) for n in names]
    text = np.array([names[i] if 0 <= i < len(names) else str(i) for i in lab], dtype=object)
    idx = np.arange(len(pts))
    sel = np.array(sorted({int(i) for i in selected if 0 <= int(i) < len(pts)}), dtype=int)
    opacity = DIM_OPACITY if len(sel) else 0.8
    size = marker_size or (4 if len(pts) > 2000 else 7)
    kind = _scatter_type(len(pts), gl)
    fig = go.Figure()
    if color is None:
        for c in np.unique(lab):
            m = lab == c
            fig.add_trace(kind(x=pts[m, 0], y=pts[m, 1], mode="markers", name=str(text[m][0]),
                               marker=dict(color=class_color(c), size=size, opacity=opacity),
                               customdata=np.stack([idx[m], text[m]], axis=1), hovertemplate=HOVER))
    else:
        val = np.asarray(color, dtype=np.float64)
        if val.shape != (len(pts),):
            raise ProjectionError(f"colour values must be (N,) = ({len(pts)},), got {val.shape}")
        shown = plotly_literal(color_title or "value")
        fig.add_trace(kind(x=pts[:, 0], y=pts[:, 1], mode="markers", name=shown, meta=[shown],
                           marker=dict(color=val, colorscale="Viridis", size=size, opacity=opacity,
                                       colorbar=dict(title=dict(text=plotly_literal(color_title)),
                                                     thickness=12)),
                           customdata=np.stack([idx, text, np.round(val, 4)], axis=1),
                           hovertemplate="%{customdata[1]} · #%{customdata[0]}<br>"
                                         "%{meta[0]} %{customdata[2]}<extra></extra>",
                           showlegend=False))
    if len(sel):
        fig.add_trace(kind(x=pts[sel, 0], y=pts[sel, 1], mode="markers", name="selected",
                           marker=dict(color=[class_color(c) for c in lab[sel]], size=size + 3,
                                       line=dict(color=SELECTED_COLOR, width=1.5), opacity=1.0),
                           customdata=np.stack([idx[sel], text[sel]], axis=1), hovertemplate=HOVER))
    for name, i in (marks or {}).items():
        if 0 <= int(i) < len(pts):
            add_marker(fig, pts[int(i)], name, customdata=[int(i), str(text[int(i)])])
    return style(fig, title, height)


def add_marker(fig: go.Figure, xy: Sequence[float], name: str, customdata: list | None = None,
               color: str = SELECTED_COLOR) -> go.Figure:
    """A labelled star at one position (interpolation endpoints, a decoded point)."""
    name = plotly_literal(name)
    fig.add_trace(go.Scatter(x=[xy[0]], y=[xy[1]], mode="markers+text", name=name, text=[name],
                             textposition="top center", textfont=dict(size=14, color=color),
                             marker=dict(symbol="star", size=16, color=color, line=dict(color="white", width=1)),
                             customdata=[customdata] if customdata else None,
                             hovertemplate="%{text}<extra></extra>", showlegend=False))
    return fig


def add_path(fig: go.Figure, path: np.ndarray, name: str = "path", current: int | None = None) -> go.Figure:
    """A path through the map (T, 2), optionally with a ring on point ``current``."""
    p = np.asarray(path, dtype=np.float64)
    fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="lines", name=name, hoverinfo="skip",
                             line=dict(color=SELECTED_COLOR, width=2, dash="dot"), showlegend=False))
    if current is not None and 0 <= current < len(p):
        fig.add_trace(go.Scatter(x=[p[current, 0]], y=[p[current, 1]], mode="markers", name="now",
                                 marker=dict(size=14, color="rgba(0,0,0,0)",
                                             line=dict(color=SELECTED_COLOR, width=2.5)),
                                 hoverinfo="skip", showlegend=False))
    return fig


def add_cloud(fig: go.Figure, points: np.ndarray, name: str = "posterior samples",
              color: str = SELECTED_COLOR) -> go.Figure:
    """Small translucent dots: samples z ~ q(z|x) mapped into the same 2-D view."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="markers", name=name, hoverinfo="skip",
                             marker=dict(size=3, color=color, opacity=0.35), showlegend=True))
    return fig


def prior_scatter(draws: np.ndarray, title: str) -> go.Figure:
    """Draws of a prior (N, 2) on their own, square: the picture beside a prior picker."""
    return style(add_cloud(go.Figure(), draws, "prior draws", PRIOR_COLOR), title, height=320)


def style(fig: go.Figure, title: str = "", height: int = 420) -> go.Figure:
    # "pan", not "lasso": in lasso or box mode Streamlit sets clickmode "event", so a click selects
    # nothing; in pan mode it sets "event+select" and a click selects the point. Box and lasso
    # stay one toolbar click away on charts with selection_mode including them.
    fig.update_layout(title=dict(text=plotly_literal(title), x=0.02, font=dict(size=15)) if title else None,
                      height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      dragmode="pan", legend=dict(itemsizing="constant", orientation="h", y=-0.08),
                      hoverlabel=dict(bgcolor="white"), plot_bgcolor="#fafafa")
    fig.update_xaxes(showgrid=False, zeroline=False, showticklabels=False)
    fig.update_yaxes(showgrid=False, zeroline=False, showticklabels=False, scaleanchor="x")
    return fig


def selected_indices(selection: Mapping[str, Any] | None) -> list[int]:
    """Dataset indices of the points in a plotly selection event (``customdata[0]``)."""
    if not selection:
        return []
    out = set()
    for point in selection.get("points", []) or []:
        cd = point.get("customdata") if isinstance(point, Mapping) else None
        if isinstance(cd, (list, tuple)) and cd:
            try:
                out.add(int(cd[0]))
            except (TypeError, ValueError):
                continue                       # paths and clouds carry no index
    return sorted(out)


def loss_curves(history: Sequence[Mapping[str, float]], keys: Sequence[str] = ("train_loss", "test_loss"),
                title: str = "") -> go.Figure:
    """Per-epoch curves from a training history (one dict per epoch)."""
    fig = go.Figure()
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    for k in keys:
        ys = [row.get(k) for row in history]
        if any(y is not None for y in ys):
            fig.add_trace(go.Scatter(x=epochs, y=ys, mode="lines+markers", name=k.replace("_", " ")))
    fig.update_layout(title=title or None, height=300, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis_title="epoch", yaxis_title="nats / image")
    return fig
