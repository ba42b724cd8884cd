"""Text a user controls, made literal for the formats aeviz renders it in (Markdown, Plotly).

One rule per format, used by every caller: the app's messages (``aeviz.ui.text``),
the Markdown reports (``metrics.report``) and figure titles, legends and hover
labels (``render.figures``). A model, file or class name is data: put into
Markdown raw, ``[Session expired](http://evil)`` becomes a link; put into a
Plotly title raw, ``<a href=...>`` becomes one.
"""
from __future__ import annotations

import html
import re
from typing import Any

# Characters that can open a Markdown construct, each backslash-escaped (CommonMark renders an
# escaped punctuation character as itself): \ itself; ` * _ ~ code and emphasis; [ ] ( ) !
# links and images; < > html, autolinks, quotes; # headings; | table cells; & entities;
# @ e-mail autolinks; : Streamlit's :color[..] / :emoji: / :material/..: and scheme autolinks
# (http\://); $ LaTeX (st.markdown renders it). Harmless ones (. , - = ' " ...) stay as typed,
# except the dot of a "www." autolink.
_MARKDOWN_SPECIAL = "\\`*_~[]()!<>#|&@:$"
_MARKDOWN_TABLE = {ord(c): "\\" + c for c in _MARKDOWN_SPECIAL}
_WWW = re.compile(r"(?i)(www)\.")


def markdown_literal(value: Any) -> str:
    """``str(value)`` as one line of Markdown that renders as exactly that text.

    Line breaks (everything str.splitlines splits on) become spaces: a part
    cannot open a new block or end a table row.
    """
    text = " ".join(str(value).splitlines())
    return _WWW.sub(r"\1\\.", text.translate(_MARKDOWN_TABLE))


def plotly_literal(value: Any) -> str:
    """``str(value)`` for a Plotly title, legend or hover label: its pseudo-HTML (<a>, <b>,
    <br>, entities) shown as typed, on one line."""
    return html.escape(" ".join(str(value).splitlines()), quote=False)


__all__ = ["markdown_literal", "plotly_literal"]
