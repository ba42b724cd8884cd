"""The Streamlit layer: the only part of aeviz that imports Streamlit.

Shared modules, used by every page (keep their APIs stable):

- ``state``   every session-state key, defaults, typed accessors (imports no other ui module)
- ``cache``   every ``st.cache_resource`` / ``st.cache_data`` wrapper (models, datasets, codes, maps)
- ``sources`` model ids (``"pretrained:digits-vae-2"``), listing and uploading models
- ``widgets`` sidebar pickers, state-bound widgets, image helpers, ``guard()`` for errors
- ``query``   URL query string <-> state, validated strictly; ``query.init()`` starts every page

Pages live in ``aeviz.ui.pages``; ``app.py`` only wires them into ``st.navigation``.
"""
