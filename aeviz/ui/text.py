"""Text the app echoes from a user, shown as plain text: the one escaping mechanism of the UI.

Streamlit renders Markdown (plus ``:color[..]`` directives, ``:emoji:`` and
``:material/..:`` shortcodes and ``$LaTeX$``) in st.warning / error / info /
success / caption / markdown / toast / subheader, in image captions and in widget
labels. A link value, a file name, a class or model name is data: put into
such text raw, ``[Session expired](http://evil)`` becomes a link inside
aeviz's own warning. So every user-supplied part goes through ``plain``, or
fills a ``{}`` of a template written in aeviz through ``md``::

    st.warning(md("Ignored the model {}: {}", model_id, error))
    st.error(plain(str(error)))          # a whole message built from user text

``tests/ui/test_text.py`` walks aeviz/ui and app.py and fails when one of those
calls gets an f-string or other text that did not pass through here.

Not for selectbox / multiselect options (``format_func``): Streamlit shows
those as plain text already, so escaping them would show the backslashes.
"""
from __future__ import annotations

import numbers
from typing import Any

from aeviz.core.text import markdown_literal


def plain(value: Any) -> str:
    """``str(value)`` as Markdown that renders as exactly that text, on one line
    (``core.text.markdown_literal``: one rule for the app and the reports)."""
    return markdown_literal(value)


def md(template: str, *parts: Any) -> str:
    """``template`` (Markdown written in aeviz) with each ``{}`` filled by one part, made plain.

    Numbers are put in as they are, so ``{:.2f}`` and ``{:,}`` work; everything
    else is ``plain(str(part))`` (format specs then apply to the escaped text).
    """
    return template.format(*(p if _is_number(p) else plain(p) for p in parts))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number)


__all__ = ["plain", "md"]
