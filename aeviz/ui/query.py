"""The URL query string <-> session state, validated strictly.

A teacher sends ``...?dataset=digits&models=pretrained:digits-ae-2,pca:digits-2&proj=pca&a=3&b=17``
and the app reopens that view. Every value is checked against a whitelist or
a range; anything else (unknown names, ``../`` paths, huge numbers) is ignored
with an ``st.warning`` and never reaches the file system.

Public API (stable):
    parse(params) -> (updates, warnings)   pure: {state key: value} and messages; no Streamlit
    init()                                 state.init() + apply_from_url() once per session (every page)
    apply_from_url()                       read st.query_params into state
    sync_to_url(keys=FIELDS)               write the current state into st.query_params
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import streamlit as st

from aeviz.data.registry import DATASETS
from aeviz.core import limits
from aeviz.core.errors import AevizError
from aeviz.ui import datasets, sources, state
from aeviz.ui.text import plain

from aeviz.maps.projections import METHOD_NAMES as PROJECTIONS     # the projection registry's names
SPLITS = ("test", "train")


def _dataset(v: str) -> dict[str, Any]:
    if datasets.is_upload(v):
        raise ValueError(f"{v} was uploaded in another session; uploads cannot be shared by link")
    if v not in DATASETS:
        raise ValueError(f"unknown dataset {v!r:.60}; known: {', '.join(DATASETS)}")
    return {state.DATASET: v}


def _model_list(v: str) -> list[str]:
    ids = [s for s in v.split(",") if s]
    if not 1 <= len(ids) <= limits.QUERY_MAX_MODELS:
        raise ValueError(f"give 1 to {limits.QUERY_MAX_MODELS} comma-separated model ids")
    for m in ids:
        sources.parse_model_id(m)              # ConfigError for anything not a safe id
        if m.startswith("upload:"):
            raise ValueError(f"{m} was uploaded in another session; uploads cannot be shared by link")
    return ids


def _models(v: str) -> dict[str, Any]:
    return {state.COMPARE_MODELS: _model_list(v)}


def _model(v: str) -> dict[str, Any]:
    if "," in v:
        raise ValueError("model takes one model id")
    return {state.EXPLORE_MODEL: _model_list(v)[0]}


def _choice(key: str, options: tuple[str, ...]) -> Callable[[str], dict[str, Any]]:
    def check(v: str) -> dict[str, Any]:
        if v not in options:
            raise ValueError(f"{v!r:.60} is not one of {', '.join(options)}")
        return {key: v}
    return check


def _index(v: str) -> int:
    if not (v.isascii() and v.isdigit()) or len(v) > len(str(limits.QUERY_MAX_INDEX)) or \
            int(v) >= limits.QUERY_MAX_INDEX:
        raise ValueError(f"{v!r:.40} is not a point index (a whole number >= 0)")
    return int(v)


def _t(v: str) -> dict[str, Any]:
    try:
        t = float(v)
    except ValueError:
        raise ValueError(f"{v!r:.40} is not a number") from None
    if not 0.0 <= t <= 1.0:                     # also refuses nan and inf
        raise ValueError(f"t must be between 0 and 1, got {v!r:.40}")
    return {state.INTERP_T: t}


# Query field -> validator returning {state key: value}; dispatch by name, no if/elif chain.
FIELDS: dict[str, Callable[[str], dict[str, Any]]] = {
    "dataset": _dataset,
    "split": _choice(state.SPLIT, SPLITS),
    "models": _models,
    "model": _model,
    "proj": _choice(state.PROJECTION, PROJECTIONS),
    "t": _t,
}


def parse(params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Validate query parameters; return state updates and one warning per refused value."""
    updates: dict[str, Any] = {}
    warnings: list[str] = []
    ends: dict[str, int] = {}
    for name, raw in params.items():
        value = raw[-1] if isinstance(raw, (list, tuple)) and raw else raw
        if not isinstance(value, str) or len(value) > limits.QUERY_MAX_VALUE_CHARS:
            warnings.append(f"Ignored the link's {str(name)[:20]!r}: the value is too long or not text.")
            continue
        try:
            if name in ("a", "b"):
                ends[name] = _index(value)
            elif name in FIELDS:
                updates.update(FIELDS[name](value))
            else:
                warnings.append(f"Ignored unknown link parameter {str(name)[:20]!r}.")
        except (ValueError, AevizError) as e:
            warnings.append(f"Ignored the link's {name}={value[:40]!r}: {e}")
    if ends:
        if len(ends) == 2:
            updates[state.ENDPOINTS] = [ends["a"], ends["b"]]
        else:
            warnings.append("Ignored the link's endpoint: give both a= and b=.")
    return updates, warnings


def init() -> None:
    """How every page starts: session defaults, then the query string once per session."""
    state.init()
    if not st.session_state[state.QUERY_APPLIED]:
        st.session_state[state.QUERY_APPLIED] = True
        apply_from_url()


def apply_from_url() -> None:
    """Copy valid query values into session state; warn about the rest."""
    updates, warnings = parse(st.query_params.to_dict())
    for key, value in updates.items():
        st.session_state[key] = value
    for w in warnings:
        st.warning(plain(w), icon="🔗")            # the messages quote the link's text


def _encode(key: str, value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


# Query field -> state key it mirrors (endpoints are split into a= and b=).
MIRRORS = {"dataset": state.DATASET, "split": state.SPLIT, "models": state.COMPARE_MODELS,
           "model": state.EXPLORE_MODEL, "proj": state.PROJECTION, "t": state.INTERP_T}


def sync_to_url(fields: tuple[str, ...] = ("dataset", "split", "models", "proj", "a", "b")) -> None:
    """Write the current view into the address bar (only what changed, so no extra reruns)."""
    ss = st.session_state
    wanted: dict[str, str] = {}
    for name in fields:
        if name in ("a", "b"):
            if len(ss[state.ENDPOINTS]) == 2:
                wanted[name] = str(ss[state.ENDPOINTS][0 if name == "a" else 1])
        elif name in MIRRORS:
            value = ss[MIRRORS[name]]
            if name == "dataset" and datasets.is_upload(value):
                continue                        # this session's own data: never in a link
            if name in ("models", "model") and any(str(m).startswith("upload:") for m in
                                                   (value if isinstance(value, list) else [value])):
                continue                        # session-only ids do not go into shareable links
            wanted[name] = _encode(name, value)
    current = st.query_params.to_dict()
    if current != wanted:
        st.query_params.from_dict(wanted)
