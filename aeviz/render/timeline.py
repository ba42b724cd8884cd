"""A training timeline drawn: one Plotly figure whose frames play in the browser (no server
round trip per frame), side by side for several models, and the same frames rasterised for a GIF.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from aeviz.core.errors import ProjectionError
from aeviz.core.text import plotly_literal
from aeviz.render.figures import PALETTE, class_color

FRAME_MS = 350


def _ranges(frames: np.ndarray, pad: float = 0.06) -> tuple[list[float], list[float]]:
    """Fixed axes over every frame (1st-99th percentile, padded): autoscaling would hide the motion."""
    lo, hi = np.percentile(frames.reshape(-1, 2), [0.5, 99.5], axis=0)
    span = np.maximum(hi - lo, 1e-9)
    return [float(lo[0] - pad * span[0]), float(hi[0] + pad * span[0])], \
        [float(lo[1] - pad * span[1]), float(hi[1] + pad * span[1])]


def animation(frames: Sequence[np.ndarray], epochs: Sequence[int], labels: np.ndarray,
              titles: Sequence[str], class_names: Sequence[str] | None = None, height: int = 430) -> go.Figure:
    """``frames``: one (F, P, 2) array per model, all for the same ``epochs`` (F,); labels (P,)."""
    if not frames or any(f.ndim != 3 or f.shape[0] != len(epochs) or f.shape[2] != 2 or f.shape[1] != len(labels)
                         for f in frames):
        raise ProjectionError("every model's timeline needs one (points, 2) frame per epoch and a label per point")
    colours = [class_color(c) for c in labels]
    hover = [plotly_literal(class_names[c]) if class_names is not None and c < len(class_names) else str(c)
             for c in labels]
    fig = make_subplots(rows=1, cols=len(frames), subplot_titles=[plotly_literal(t) for t in titles],
                        horizontal_spacing=0.03)

    def traces(k: int) -> list[go.Scatter]:
        return [go.Scatter(x=f[k, :, 0], y=f[k, :, 1], mode="markers", text=hover, hoverinfo="text",
                           marker=dict(size=4, color=colours, opacity=0.75), showlegend=False) for f in frames]
    for col, trace in enumerate(traces(0), start=1):
        fig.add_trace(trace, row=1, col=col)
    for col, f in enumerate(frames, start=1):
        xr, yr = _ranges(f)
        fig.update_xaxes(range=xr, showticklabels=False, showgrid=False, zeroline=False, row=1, col=col)
        fig.update_yaxes(range=yr, showticklabels=False, showgrid=False, zeroline=False, row=1, col=col)
    fig.frames = [go.Frame(data=traces(k), traces=list(range(len(frames))), name=str(e))
                  for k, e in enumerate(epochs)]
    step = dict(frame=dict(duration=FRAME_MS, redraw=False), mode="immediate", transition=dict(duration=0))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=40, b=10), plot_bgcolor="#fafafa",
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.04, xanchor="left", yanchor="top",
                          buttons=[dict(label="▶ Play", method="animate", args=[None, {**step, "fromcurrent": True}]),
                                   dict(label="❚❚ Pause", method="animate",
                                        args=[[None], {**step, "frame": dict(duration=0, redraw=False)}])])],
        sliders=[dict(active=0, x=0.2, y=-0.02, len=0.8, currentvalue=dict(prefix="epoch ", xanchor="right"),
                      steps=[dict(label=str(e), method="animate", args=[[str(e)], step]) for e in epochs])])
    return fig


def raster(frames: np.ndarray, labels: np.ndarray, size: int = 240) -> np.ndarray:
    """(F, P, 2) frames -> (F, size, size, 3) uint8 pictures: class-coloured dots on white, fixed axes."""
    frames = np.asarray(frames, np.float64)
    xr, yr = _ranges(frames)
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE], np.uint8)[np.asarray(labels) % 10]
    out = np.full((len(frames), size, size, 3), 255, np.uint8)
    for k, f in enumerate(frames):
        px = np.clip(((f[:, 0] - xr[0]) / (xr[1] - xr[0]) * (size - 3)).astype(int), 0, size - 3)
        py = np.clip(((yr[1] - f[:, 1]) / (yr[1] - yr[0]) * (size - 3)).astype(int), 0, size - 3)
        for dx in range(3):                     # 3x3 dots
            for dy in range(3):
                out[k, py + dy, px + dx] = rgb
    return out
