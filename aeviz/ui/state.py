"""Every session-state key of the app, named once, with typed accessors.

Every page calls ``aeviz.ui.query.init()`` first: it runs ``init()`` here
(idempotent: fills missing keys with defaults) and, once per session, applies
the URL query string. This module imports no other aeviz.ui module. Canonical values live under the keys below, which no
widget owns: Streamlit deletes a widget's key when a page without that widget
runs, so widgets use their own keys and copy into these (see
``aeviz.ui.widgets.bound``). Tests reach a state by seeding these keys::

    at = AppTest.from_file("app.py")
    at.session_state[state.SELECTION] = [3, 17]

Keys (values and their types):
    DATASET          str            registered dataset name ("mnist-small", the embedded default)
    SPLIT            str            "train" | "test"
    COMPARE_MODELS   list[str]      model ids on the Compare page (2-3)
    EXPLORE_MODEL    str            model id on the Explore page (and the default for other pages)
    PROJECTION       str            "latent" | "pca" | "umap" | "tsne"
    PROJ_PARAMS      dict           parameters of the projection (e.g. {"n_neighbors": 15})
    COLOR_BY         str            "label" | "error" | "variance"
    VAE_CODES        str            "mean" | "sample" | "cloud"
    SELECTION        list[int]      selected point indices into the current split (linked maps)
    ENDPOINTS        list[int]      [a, b]: indices of the interpolation endpoints ([] = pick automatically)
    INTERP_T         float          position along the a -> b path, 0..1
    SEED             int            seed for samples and projections
    UPLOADS          dict[str, Any] model id -> Checkpoint, this session's uploaded models only
    SESSION_DIR      str            this session's private temp folder (uploads are extracted there)
    DATA_UPLOADS     dict[str, Any] dataset name ("upload-<digest>") -> its upload, this session's only
    QUERY_APPLIED    bool           the query string was read for this session
    KEPT             dict[str, Any] widget key -> value of the pages that call keep_widgets
"""
from __future__ import annotations

import copy
import os
import gc
import sys
from typing import Any

import numpy as np
import streamlit as st

from aeviz.ui.text import md

DATASET = "aeviz.dataset"
SPLIT = "aeviz.split"
COMPARE_MODELS = "aeviz.compare_models"
EXPLORE_MODEL = "aeviz.explore_model"
PROJECTION = "aeviz.projection"
PROJ_PARAMS = "aeviz.proj_params"
COLOR_BY = "aeviz.color_by"
VAE_CODES = "aeviz.vae_codes"
SELECTION = "aeviz.selection"
ENDPOINTS = "aeviz.endpoints"
INTERP_T = "aeviz.interp_t"
SEED = "aeviz.seed"
UPLOADS = "aeviz.uploads"
SESSION_DIR = "aeviz.session_dir"       # a TemporaryDirectory: removed with the session
DATA_UPLOADS = "aeviz.data_uploads"     # this session's uploaded datasets (aeviz.ui.datasets)
OWN_MODELS = "aeviz.own_models"         # names of user models this session saved
QUERY_APPLIED = "aeviz.query_applied"

DEFAULT_DATASET = "mnist-small"        # AEVIZ_DEFAULT_DATASET picks another (a classroom's own default)
# Models are chosen per dataset by widgets' pickers (the landing contrast); empty = not chosen yet.
DEFAULT_COMPARE: list[str] = []
DEFAULT_EXPLORE = ""

DEFAULTS: dict[str, Any] = {
    SPLIT: "test",
    COMPARE_MODELS: DEFAULT_COMPARE,
    EXPLORE_MODEL: DEFAULT_EXPLORE,
    PROJECTION: "latent",
    PROJ_PARAMS: {},
    COLOR_BY: "label",
    VAE_CODES: "mean",
    SELECTION: [],
    ENDPOINTS: [],
    INTERP_T: 0.5,
    SEED: 0,
    UPLOADS: {},
    DATA_UPLOADS: {},
    OWN_MODELS: set(),
    QUERY_APPLIED: False,
}


_modules_frozen = 0


def freeze_heap() -> None:
    """Hide long-lived objects (torch, sklearn, pandas: millions) from the cyclic GC.

    Without this every widget round trip pays for full garbage collections that walk the
    whole heap: the slider took ~2x a bare Streamlit page's time (benchmarks/app_latency.py).
    Runs again only after new modules were imported, so it is free on ordinary reruns.
    """
    global _modules_frozen
    if len(sys.modules) > _modules_frozen:
        _modules_frozen = len(sys.modules)
        gc.collect()                           # free today's garbage before freezing the rest
        gc.freeze()


def init() -> None:
    """Fill missing keys with defaults (pages call ``query.init``, which also reads the link)."""
    freeze_heap()
    ss = st.session_state
    for key, value in DEFAULTS.items():
        if key not in ss:
            ss[key] = copy.deepcopy(value)      # lists/dicts must not be shared between sessions
    if DATASET not in ss:
        # read per session, not at import: a name that is not offered falls back to the first dataset
        ss[DATASET] = os.environ.get("AEVIZ_DEFAULT_DATASET", "").strip()[:64] or DEFAULT_DATASET


def get(key: str) -> Any:
    """The value under ``key`` (after ``init()``)."""
    return st.session_state[key]


def put(key: str, value: Any) -> None:
    st.session_state[key] = value


KEPT = "aeviz.kept_widgets"             # {widget key: value} remembered by keep_widgets


def keep_widgets(prefix: str, skip: tuple[str, ...] = ()) -> None:
    """Make every widget whose key starts with ``prefix`` survive a page switch (a page with many
    settings: ``widgets.bound`` does this for one widget). Call it before those widgets are drawn.

    The values at the top of each run (the browser's latest) are copied aside; keys Streamlit
    dropped while another page ran are written back before drawing, so the browser shows them.
    ``skip``: keys of buttons, whose values Streamlit refuses to have written.
    """
    ss, kept = st.session_state, st.session_state.setdefault(KEPT, {})
    for key in [k for k in ss.keys() if k.startswith(prefix) and k not in skip]:
        kept[key] = ss[key]
    for key, value in kept.items():
        if key.startswith(prefix) and key not in ss:
            ss[key] = value


# Typed accessors -------------------------------------------------------------

def dataset() -> str:
    return str(st.session_state[DATASET])


def split() -> str:
    return str(st.session_state[SPLIT])


def compare_models() -> list[str]:
    return list(st.session_state[COMPARE_MODELS])


def explore_model() -> str:
    return str(st.session_state[EXPLORE_MODEL])


def projection() -> tuple[str, dict[str, Any]]:
    return str(st.session_state[PROJECTION]), dict(st.session_state[PROJ_PARAMS])


def seed() -> int:
    return int(st.session_state[SEED])


def selection() -> list[int]:
    return [int(i) for i in st.session_state[SELECTION]]


def set_selection(indices: list[int]) -> None:
    st.session_state[SELECTION] = sorted({int(i) for i in indices})


def endpoints(n_points: int, labels: np.ndarray | None = None) -> tuple[int, int]:
    """Interpolation endpoints valid for a split of ``n_points`` points.

    Unset endpoints are chosen automatically (with ``labels``: the first
    points of two different classes); out-of-range ones (a stale link) are
    replaced with a warning.
    """
    ends = list(st.session_state[ENDPOINTS])
    if len(ends) == 2 and all(0 <= int(i) < n_points for i in ends):
        return int(ends[0]), int(ends[1])
    if len(ends) == 2:
        st.warning(md("Endpoints {} and {} are not in this split of {:,} points; picked new ones.",
                      ends[0], ends[1], n_points), icon="🔗")
    a, b = default_endpoints(n_points, labels)
    st.session_state[ENDPOINTS] = [a, b]
    return a, b


def default_endpoints(n_points: int, labels: np.ndarray | None = None) -> tuple[int, int]:
    """The first point, and the first point of another class (else the second point)."""
    if labels is not None and len(labels) == n_points and n_points > 1:
        other = np.flatnonzero(np.asarray(labels) != labels[0])
        if len(other):
            return 0, int(other[0])
    return 0, min(1, n_points - 1)


def set_endpoints(a: int, b: int) -> None:
    st.session_state[ENDPOINTS] = [int(a), int(b)]


def own_models() -> set[str]:
    """User models saved by this session: only these are "(yours)" and may be overwritten."""
    own = st.session_state.get(OWN_MODELS)
    if own is None:                       # before init(), or outside a script run (AppTest)
        own = st.session_state[OWN_MODELS] = set()
    return own


def uploads() -> dict[str, Any]:
    return st.session_state[UPLOADS]


def set_dataset(name: str) -> None:
    """Change dataset; selections index the old split, so they are cleared."""
    if name != st.session_state.get(DATASET):
        st.session_state[DATASET] = name
        st.session_state[SELECTION] = []
        st.session_state[ENDPOINTS] = []
