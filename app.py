"""aeviz, a latent-space lab for autoencoders: ``streamlit run app.py``.

Tiny on purpose: page config and navigation. Pages live in aeviz/ui/pages/.
"""
from pathlib import Path

import streamlit as st

from aeviz.ui import cache
from aeviz.ui.text import md

st.set_page_config(page_title="aeviz · latent-space lab", page_icon="🧭", layout="wide")

PAGES = [  # (file in aeviz/ui/pages, title, icon)
    ("compare.py", "Compare", ":material/compare:"),
    ("explore.py", "Explore", ":material/scatter_plot:"),
    ("interpolate.py", "Interpolate", ":material/timeline:"),
    ("timeline.py", "Timeline", ":material/play_circle:"),
    ("decode.py", "Decode anywhere", ":material/ads_click:"),
    ("train.py", "Train", ":material/model_training:"),
    ("export.py", "Export", ":material/download:"),
]


def _page(file: str, title: str, icon: str) -> st.Page:
    path = Path(__file__).parent / "aeviz" / "ui" / "pages" / file
    if path.is_file():
        return st.Page(str(path), title=title, icon=icon, default=file == "compare.py")
    # A page still being written shows a note instead of breaking the whole app.
    return st.Page(lambda: st.info(md("The {} page is not available in this build.", title)),
                   title=title, icon=icon, url_path=file.removesuffix(".py"))


st.navigation([_page(*spec) for spec in PAGES]).run()
# after the page is drawn: one-time costs of compute estimates, off the first paint's path
cache.warm_compute()
