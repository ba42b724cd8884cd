"""Vector samples (points of a non-image dataset) as a small plotly figure; no Streamlit.

2-D points are drawn where they lie in the data's own plane; wider ones as one line per
sample over its features (a parallel-coordinates view). Data is scaled into [0, 1] on
upload and the axes always show that square, so a decoded point's place means something
even when it is drawn alone. Colour follows sample order (first dark, last light): the
steps of a path or the cells of a grid read in order.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from aeviz.core.errors import ProjectionError

SCALE = "Viridis"


def _colors(n: int) -> list[str]:
    from plotly.colors import sample_colorscale
    return sample_colorscale(SCALE, [i / max(1, n - 1) * 0.85 for i in range(n)])


def _span(x: np.ndarray) -> list[float]:
    """[0, 1] widened to hold every value (a decoder may step outside), with a small margin."""
    lo, hi = min(0.0, float(x.min())), max(1.0, float(x.max()))
    pad = 0.05 * (hi - lo)
    return [lo - pad, hi + pad]


def vector_samples(x: np.ndarray, height: int = 220) -> go.Figure:
    """(N, D) finite values -> a scatter in the data plane (D <= 2) or a line per sample (D > 2)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or 0 in x.shape or not np.isfinite(x).all():
        raise ProjectionError(f"samples to plot must be a finite (N, D) array with N, D >= 1, got shape "
                              f"{x.shape}")
    n, d = x.shape
    colors = _colors(n)
    fig = go.Figure()
    span = _span(x)
    if d <= 2:
        xy = x if d == 2 else np.column_stack([x[:, 0], np.zeros(n)])
        fig.add_trace(go.Scatter(
            x=xy[:, 0], y=xy[:, 1], mode="markers", customdata=np.arange(n),
            marker=dict(size=11 if n <= 20 else 7, color=colors, line=dict(width=1, color="white")),
            hovertemplate="#%{customdata}: (%{x:.3f}, %{y:.3f})<extra></extra>" if d == 2
            else "#%{customdata}: %{x:.3f}<extra></extra>"))
        fig.update_xaxes(range=span, title_text="feature 1", constrain="domain")
        fig.update_yaxes(range=span if d == 2 else [-0.5, 0.5], title_text="feature 2" if d == 2 else None,
                         scaleanchor="x" if d == 2 else None, showticklabels=d == 2)
    else:
        features = np.arange(1, d + 1)
        width = 2 if n <= 20 else 1
        for i in range(n):
            fig.add_trace(go.Scatter(x=features, y=x[i], mode="lines+markers" if d <= 32 else "lines",
                                     line=dict(color=colors[i], width=width), marker=dict(size=4),
                                     hovertemplate=f"#{i} · feature %{{x}} = %{{y:.3f}}<extra></extra>"))
        fig.update_xaxes(title_text="feature", range=[0.7, d + 0.3], dtick=1 if d <= 16 else None)
        fig.update_yaxes(range=span, title_text="value")
    fig.update_layout(height=int(height), showlegend=False, margin=dict(l=10, r=10, t=10, b=10),
                      plot_bgcolor="#fafafa", hoverlabel=dict(bgcolor="white"))
    return fig


__all__ = ["vector_samples"]
