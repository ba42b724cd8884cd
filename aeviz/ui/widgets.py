"""Shared widgets: the sidebar pickers, state-bound inputs, pictures and error display.

Public API (stable; every page uses it):
    guard()                        context manager: an AevizError becomes st.error(message), page goes on
    bound(widget, label, key, **kw)   draw ``widget`` (st.selectbox, st.slider, ...) bound to state ``key``
    sidebar(models=None) -> (dataset, split)   dataset + split pickers (+ "share this view" link)
    dataset_picker(container=st) -> str
    split_picker(container=st) -> str
    model_picker(label, dataset, sample_shape, key=state.EXPLORE_MODEL, container=st) -> str
    models_picker(label, dataset, sample_shape, key=state.COMPARE_MODELS, max_models=3) -> list[str]
    upload_model(container=st) -> str | None   checkpoint .zip uploader (+ remove buttons); returns its model id
    picture(images, size=96) -> uint8 array    one image or a batch tiled in a row, enlarged crisply
    show_images(images, captions=None, size=96, container=st)   images in a row of columns
    show_picture(pic, caption="", container=st)   a uint8 picture at its own size (no stretching)
    show_samples(x, caption="")    images, or a small plot of the points for vector datasets
    clear_selection_button(container=st)   "Clear selection": empties the maps' linked selection

Captions given to the picture helpers are plain text (escaped here through
``aeviz.ui.text.plain``): pass model labels and class names as they are.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import math
from typing import Any, Callable, Iterator

import numpy as np
import streamlit as st
from streamlit.errors import StreamlitDuplicateElementId, StreamlitDuplicateElementKey
from streamlit.runtime.scriptrunner import get_script_run_ctx

from aeviz.render import images as imaging
from aeviz.render.samples import vector_samples
from aeviz.data.registry import list_datasets
from aeviz.maps.projections import METHOD_NAMES
from aeviz.core.errors import AevizError
from aeviz.ui import datasets, query, sources, state
from aeviz.ui.text import plain


_MISSING = object()
_DRAWN_ON = "aeviz.drawn_on"        # {widget key: the page that drew it last} (see bound)


def trust_notice(ratio: float) -> None:
    """A success / info / warning line saying how near the data a code is (latent.trust's levels)."""
    from aeviz.latent.trust import trust_label, trust_level
    notice = {"near": st.success, "between": st.info, "far": st.warning}[trust_level(ratio)]
    notice(trust_label(ratio).capitalize() + ".")


@contextlib.contextmanager
def guard(prefix: str = "") -> Iterator[None]:
    """Show any AevizError as ``st.error`` and let the rest of the page run."""
    try:
        yield
    except AevizError as e:
        st.error(plain(f"{prefix}{e}"), icon="⚠️")


def bound(widget: Callable[..., Any], label: str, key: str, *, container: Any = st,
          on_change: Callable[[], None] | None = None, **kwargs: Any) -> Any:
    """Draw ``widget`` showing and updating the canonical state value under ``key``.

    The widget gets its own key (``_w.<key>``), so switching pages (which drops
    widget keys) never loses the value. For choice widgets a stored value that
    is not among ``options`` falls back to the first option.
    """
    wkey = f"_w.{key}"
    value = st.session_state[key]
    options = kwargs.get("options")
    if options is not None:
        opts = list(options)
        if isinstance(value, list):
            value = [v for v in value if v in opts]
        elif value not in opts and opts:
            value = opts[0]
        st.session_state[key] = value
    # Assign only when they differ: re-setting a live widget's value on every run makes the
    # browser redraw it and slows every interaction (~1.8x on the slider benchmark). And on the
    # first run of another page: the same key there is a new widget (its id holds the page), which
    # keeps its default unless assigned, while the old page's value still reads back under the key.
    drawn = st.session_state.setdefault(_DRAWN_ON, {})
    page_id = getattr(get_script_run_ctx(), "page_script_hash", "")
    if st.session_state.get(wkey, _MISSING) != value or drawn.get(wkey) != page_id:
        st.session_state[wkey] = value
    drawn[wkey] = page_id

    def sync() -> None:
        st.session_state[key] = st.session_state[wkey]
        if on_change:
            on_change()
    fn = getattr(container, widget.__name__) if container is not st else widget
    return fn(label, key=wkey, on_change=sync, **kwargs)


def _clear_selection() -> None:
    st.session_state[state.SELECTION] = []
    st.session_state[state.ENDPOINTS] = []


def clear_selection_button(container: Any = st) -> None:
    """A button that empties the maps' selection (the endpoints stay).

    A button, not a double-click on a map: Streamlit hashes the figure into a chart's id, so a
    map redrawn with the new selection is a new chart holding no selection, and a double-click
    on it sends nothing to the server.
    """
    container.button("Clear selection", key="_w.clear_selection", on_click=state.set_selection,
                     args=([],), help="Unselect every point on the maps")


def dataset_picker(container: Any = st) -> str:
    """The registered datasets present here, then this session's uploads; the upload box below
    (drawn first, into its own slot, so a file uploaded now is already listed and picked)."""
    slot = container.container()
    datasets.uploader(container)
    rows = [r for r in list_datasets() if r["available"]]
    names = [r["name"] for r in rows] + datasets.names()
    described = {r["name"]: r["description"] for r in rows}
    name = bound(st.selectbox, "Dataset", state.DATASET, container=slot, options=names,
                 on_change=_clear_selection, format_func=datasets.label,
                 help="Only datasets present on this machine are listed "
                      "(set AEVIZ_DATA_DIR to add MNIST, Fashion-MNIST or Frey faces), then the data "
                      "you uploaded in this session (the box below).")
    slot.caption(plain(described.get(name) or (datasets.get(name).description if name in datasets.names() else "")))
    return name


def split_picker(container: Any = st) -> str:
    return bound(st.radio, "Split", state.SPLIT, container=container, options=["test", "train"],
                 horizontal=True, on_change=_clear_selection,
                 help="Points shown on the maps: held-out test images or the training set.")


def model_picker(label: str, dataset: str, sample_shape: tuple[int, ...],
                 key: str = state.EXPLORE_MODEL, container: Any = st) -> str:
    ids = sources.list_models(dataset, sample_shape)
    if st.session_state.get(key) not in ids and ids:
        st.session_state[key] = _default_model(dataset, ids)
    chosen = bound(st.selectbox, label, key, container=container, options=ids,
                   format_func=functools.partial(_picker_label, dataset))
    _foreign_note([chosen] if chosen else [], dataset, container)
    return chosen


def models_picker(label: str, dataset: str, sample_shape: tuple[int, ...],
                  key: str = state.COMPARE_MODELS, max_models: int = 3, container: Any = st) -> list[str]:
    ids = sources.list_models(dataset, sample_shape)
    if not [m for m in st.session_state[key] if m in ids]:
        st.session_state[key] = _default_models(dataset, ids)
    chosen = bound(st.multiselect, label, key, container=container, options=ids,
                   format_func=functools.partial(_picker_label, dataset), max_selections=max_models)
    _foreign_note(chosen, dataset, container)
    return chosen


def _picker_label(dataset: str, model_id: str) -> str:
    """The model's label, plus the dataset it was trained on when that is not ``dataset``."""
    label = sources.model_label(model_id)
    if sources.belongs(model_id, dataset):
        return label
    try:
        trained = sources.model_meta(model_id)["dataset"] or "unknown data"
    except AevizError:
        trained = "unknown data"
    return f"{label} — trained on {trained}"


def _foreign_note(chosen: list[str], dataset: str, container: Any) -> None:
    foreign = [m for m in chosen if not sources.belongs(m, dataset)]
    if foreign:
        container.caption(plain(
            f"{', '.join(_picker_label(dataset, m) for m in foreign)}: it reads inputs of this shape, but "
            f"it never saw {dataset}, so its codes and pictures of it say little about what it learned."))


def _default_model(dataset: str, ids: list[str]) -> str:
    """One model to open on: the VAE of the landing contrast, else its first model."""
    chosen = _default_models(dataset, ids)
    return next((m for m in chosen if sources.model_meta(m)["family"] == "vae"), chosen[0] if chosen else ids[0])


def _default_models(dataset: str, ids: list[str]) -> list[str]:
    """The landing contrast: the shipped AE and VAE of this dataset with the smallest latent size
    both have, plus the AAE of that size (else the 2-component PCA baseline)."""
    shipped: dict[tuple[str, int], str] = {}
    for m in ids:
        if m.startswith("pretrained:") and sources.belongs(m, dataset):
            meta = sources.model_meta(m)
            shipped.setdefault((meta["family"], meta["latent_dim"]), m)
    dims = sorted({d for f, d in shipped if f == "ae"} & {d for f, d in shipped if f == "vae"})
    if not dims:                               # e.g. Frey faces: its one shipped VAE beside PCA
        return (list(shipped.values())[:2] + [m for m in ids if m.startswith("pca:")][:1]) or ids[:2]
    d = dims[0]
    third = shipped.get(("aae", d)) or next((m for m in ids if m == f"pca:{dataset}-2"), None)
    return [shipped[("ae", d)], shipped[("vae", d)]] + ([third] if third else [])


UPLOAD_ROUND = "aeviz.upload_round"     # bumped by Remove: a fresh uploader, so the file is not re-added


def upload_model(container: Any = st) -> str | None:
    """A .zip of a checkpoint folder -> loaded into this session; returns its model id.

    The uploader re-sends its file on every rerun: ``sources.add_upload`` knows it by
    its hash and does no work. Below it, this session's uploads, each with a Remove button.
    """
    n = st.session_state.setdefault(UPLOAD_ROUND, 0)
    file = container.file_uploader("Upload a checkpoint folder as .zip", type=["zip"],
                                   key=f"_w.upload_model.{n}",
                                   help="Zip the folder written by `python -m aeviz train` "
                                        "(config.json + model.safetensors). Nothing is unpickled.")
    model_id = None
    if file is not None:
        with guard("Upload refused: "):
            model_id = sources.add_upload(file.getvalue(), file.name)
    for kept in list(state.uploads()):
        left, right = container.columns([5, 1], vertical_alignment="center")
        left.caption(plain(sources.model_label(kept)))
        # "✕": a word does not fit beside the name in the sidebar; the tooltip says what it does
        right.button("✕", key=f"_w.remove.{kept}", on_click=_remove_upload, args=(kept,),
                     help="Remove this upload from the session (deletes its files), to make room "
                          "for another")
    return model_id


def _remove_upload(model_id: str) -> None:
    sources.remove_upload(model_id)
    st.session_state[UPLOAD_ROUND] = st.session_state.get(UPLOAD_ROUND, 0) + 1


METHODS = METHOD_NAMES                             # the map methods every page offers: the registry's
MAP_HELP = ("latent: the raw 2-D code (2-D models). Larger codes are drawn with PCA unless you pick "
            "UMAP or t-SNE (slower).")
NO_MODEL = "No model fits this dataset yet: train one on the Train page."


def page(title: str, intro: str) -> tuple[str, str]:
    """Session state, the dataset/split sidebar, title and intro: how every data page starts.

    An intro that names the dataset's items is drawn by the page itself (pass "")."""
    query.init()
    dataset, split = sidebar()
    st.title(title)
    if intro:
        st.markdown(intro)
    return dataset, split


def map_picker(label: str = "Map", help: str = MAP_HELP) -> str:
    return bound(st.selectbox, label, state.PROJECTION, options=list(METHODS), help=help)


def model_and_map(dataset: str, sample_shape: tuple[int, ...]) -> tuple[str | None, str]:
    """One model and a map method in the sidebar; (None, method) with a hint when none fits."""
    with st.sidebar:
        model_id = model_picker("Model", dataset, sample_shape)
        method = map_picker()
    if not model_id:
        st.info(NO_MODEL)
    return model_id or None, method


def sidebar() -> tuple[str, str]:
    """Dataset and split pickers in the sidebar (every data page draws them)."""
    with st.sidebar:
        dataset = dataset_picker()
        split = split_picker()
        st.caption("The address bar holds this view: copy it to share it.")
    return dataset, split


def picture(images: np.ndarray, size: int = 96) -> np.ndarray:
    """uint8 picture of one image or a row of images, each enlarged to about ``size`` px."""
    frames = imaging.to_uint8(images)
    factor = max(1, math.ceil(size / max(frames.shape[1:3])))
    return imaging.filmstrip(frames, pad=2, scale=factor) if len(frames) > 1 else \
        imaging.upscale(frames, factor)[0]


def show_images(images: np.ndarray, captions: list[str] | None = None, size: int = 96,
                container: Any = st) -> None:
    """Each image in its own column, enlarged without blur, with an optional caption."""
    frames = imaging.to_uint8(images)
    cols = container.columns(max(1, len(frames)))
    for i, (col, frame) in enumerate(zip(cols, frames)):
        pic = picture(frame, size)
        col.image(pic, caption=plain(captions[i]) if captions else None, width=pic.shape[1],
                  output_format="PNG")


def show_picture(pic: np.ndarray, caption: str = "", container: Any = st, inline: bool = False) -> None:
    """A uint8 picture at its own pixel size (never stretched; shrunk only to fit the column).

    inline: send the PNG inside the page as a data: URI instead of as a Streamlit media
    file. For small pictures redrawn by a fragment on every slider move: a replaced media
    file is deleted on the server while the browser may still request it (a 404,
    streamlit#4825); an inline picture has nothing to fetch.
    """
    src = "data:image/png;base64," + base64.b64encode(imaging.png_bytes(pic)).decode() if inline else pic
    container.image(src, caption=plain(caption) or None, width=int(pic.shape[1]), output_format="PNG")


def show_samples(x: np.ndarray, caption: str = "", size: int = 96, container: Any = st,
                 inline: bool = False) -> None:
    """Images when the samples are images; otherwise a small plot of the points
    (``render.samples.vector_samples``: in the data's plane for 2-D data, else a line each)."""
    if imaging.is_image_shape(x.shape[1:]):
        show_picture(picture(x, size), caption, container, inline)
        return
    fig = vector_samples(np.asarray(x).reshape(len(x), -1), height=max(180, min(320, size + 140)))
    for n in range(64):          # the same points twice in one run need a key (Streamlit's element id)
        try:
            container.plotly_chart(fig, key=None if n == 0 else f"_w.samples.{n}",
                                   config={"displaylogo": False, "displayModeBar": False})
            break
        except (StreamlitDuplicateElementId, StreamlitDuplicateElementKey):
            continue
    container.caption(plain(caption))


__all__ = ["guard", "bound", "sidebar", "dataset_picker", "split_picker", "model_picker",
           "models_picker", "upload_model", "picture", "show_images", "show_picture", "show_samples",
           "clear_selection_button"]
