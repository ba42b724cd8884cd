"""Export: codes and maps as tables, the model as a zip, figures, and a TensorBoard Projector bundle.

The CSV is ready at once. The checkpoint zip is built when asked (a folder can
hold large extra files: it is never re-read on a rerun) and kept while the
folder's files keep their sizes and times; the heavier files (Parquet,
Projector sprite, figure, "everything" zip) are built when asked and kept for
this session until the model, data or map changes.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import streamlit as st

from aeviz.render import figures
from aeviz.models.checkpoint import save_checkpoint
from aeviz.core.errors import DataError
from aeviz.render.export import (embedding_table, figure_bytes, folder_files, kaleido_available,
                          projector_files, table_to_csv, table_to_parquet, zip_bytes)
from aeviz.render.images import is_image_shape
from aeviz.ui import cache, query, sources, state, widgets
from aeviz.ui.text import md, plain

PREPARED = "aeviz.export.prepared"      # {"key": fingerprint, "files": {name: bytes}, "zips": {...}, "notes": [...]}
CKPT_ZIP = "aeviz.export.ckpt_zip"      # {"key": checkpoint_signature(...), "zip": bytes}: zipped once on request
MAX_PROJECTOR = 10_000                  # points in the Projector bundle (sprite <= 8192 px a side)

INTRO = ("Take the codes, the map and the model with you: as tables for pandas or R, as a "
         "checkpoint for `python -m aeviz`, or in the TensorBoard Embedding Projector format.")
PROJECTOR_HELP = ("Open https://projector.tensorflow.org, click **Load**, choose `vectors.tsv` then "
                  "`metadata.tsv` (the sprite is set in `projector_config.pbtxt`; with TensorBoard, put "
                  "the unzipped folder in your log dir and run `tensorboard --logdir <it>`).")


def main() -> None:
    dataset, split = widgets.page("Export", INTRO)
    with widgets.guard():
        ds = cache.get_dataset(dataset)
        model_id, method = widgets.model_and_map(dataset, ds.sample_shape)
        if model_id is None:
            return
        x, y = ds.split(split)
        codes = cache.get_codes(model_id, dataset, split)
        m = "pca" if method == "latent" and codes.shape[1] != 2 else method
        pts = cache.get_map(model_id, dataset, split, m, {}, state.seed())
        stem = f"{model_id.split(':', 1)[1]}-{dataset}-{split}"
        table = embedding_table(codes, y, pts, list(ds.class_names))
        tables_panel(table, stem, m, len(codes), codes.shape[1])
        checkpoint_panel(model_id)
        key = (cache.model_key(model_id), dataset, split, m, state.seed())
        bundle_panel(key, model_id, table, codes, x, y, ds.class_names, pts, stem, m)
    query.sync_to_url(("dataset", "split", "model", "proj"))


def tables_panel(table: dict, stem: str, method: str, n: int, d: int) -> None:
    st.subheader("Codes and map coordinates")
    st.caption(md("{:,} rows: index, label, class, the {} map's x and y, and the {} code dimensions z0.. "
                  "(VAE: the posterior mean).", n, method, d))
    st.download_button("Download CSV", table_to_csv(table), file_name=f"{stem}.csv", mime="text/csv",
                       on_click="ignore", key="_w.export.csv")


def _checkpoint_files(model_id: str) -> dict[str, bytes]:
    """The model's checkpoint folder; models built in memory are saved to a temp folder first."""
    ckpt = cache.get_model(model_id)
    name = model_id.split(":", 1)[1]
    if ckpt.path is not None and Path(ckpt.path).is_dir():
        return folder_files(ckpt.path, name)
    with tempfile.TemporaryDirectory(prefix="aeviz-export-") as tmp:
        folder = save_checkpoint(Path(tmp) / name, ckpt.model, stages=ckpt.stages,
                                 dataset_name=ckpt.dataset_name, command=ckpt.command,
                                 history=ckpt.history, metrics=ckpt.metrics)
        return folder_files(folder, name)


def checkpoint_signature(model_id: str) -> tuple:
    """What the checkpoint zip depends on, from file metadata only (nothing is read).

    A folder: its path and each file's (relative path, size, mtime); a model built
    in memory (PCA, a built-in recipe): its cache key.
    """
    ckpt = cache.get_model(model_id)
    if ckpt.path is None or not Path(ckpt.path).is_dir():
        return (model_id, cache.model_key(model_id))
    folder = Path(ckpt.path)
    stats = [(p.relative_to(folder).as_posix(), p.stat()) for p in sorted(folder.rglob("*"))
             if p.is_file() and not p.is_symlink()]
    return (model_id, str(folder), tuple((rel, s.st_size, s.st_mtime_ns) for rel, s in stats))


def _checkpoint_kb(model_id: str, signature: tuple) -> float:
    """Size shown before zipping: the folder's files, or the weights of an in-memory model."""
    if len(signature) == 3:
        return sum(size for _, size, _ in signature[2]) / 1024
    tensors = cache.get_model(model_id).model.state_dict().values()
    return sum(t.numel() * t.element_size() for t in tensors) / 1024


def checkpoint_panel(model_id: str) -> None:
    st.subheader("The model")
    key = checkpoint_signature(model_id)
    name = model_id.split(":", 1)[1]
    st.caption(md("{}: config.json + model.safetensors + history, {:.0f} KB. Load it with `python -m aeviz` "
                  "or upload it on Explore.", sources.model_label(model_id), _checkpoint_kb(model_id, key)))
    ready = st.session_state.get(CKPT_ZIP)
    if ready is None or ready["key"] != key:
        if not st.button("Prepare the checkpoint (.zip)", key="_w.export.ckpt_prepare"):
            return
        with st.spinner("Zipping the checkpoint…"):
            ready = {"key": key, "zip": zip_bytes(_checkpoint_files(model_id))}
        st.session_state[CKPT_ZIP] = ready
    st.download_button("Download checkpoint (.zip)", ready["zip"], file_name=f"{name}.zip",
                       mime="application/zip", on_click="ignore", key="_w.export.ckpt")


def _prepare(model_id: str, table: dict, codes: np.ndarray, x: np.ndarray, y: np.ndarray,
             class_names: tuple[str, ...], pts: np.ndarray, method: str) -> tuple[dict[str, bytes], list[str]]:
    files: dict[str, bytes] = {"embeddings.csv": table_to_csv(table)}
    notes: list[str] = []
    try:
        files["embeddings.parquet"] = table_to_parquet(table)
    except DataError as e:
        notes.append(str(e))
    n = min(len(codes), MAX_PROJECTOR)
    if n < len(codes):
        notes.append(f"The Projector bundle holds the first {n:,} of {len(codes):,} points (sprite size limit).")
    images = x[:n] if is_image_shape(x.shape[1:]) else None
    thumb = max(x.shape[-2:]) * max(1, -(-28 // max(x.shape[-2:]))) if images is not None else 28
    for name, data in projector_files(codes[:n], y[:n], list(class_names), images, thumb=thumb).items():
        files[f"projector/{name}"] = data
    fig = figures.latent_map(pts, y, class_names=class_names, title=f"{sources.model_label(model_id)} · {method} map")
    data, ext, _ = figure_bytes(fig)
    files[f"figures/map.{ext}"] = data
    if not kaleido_available():
        notes.append("Figures are interactive HTML: PNG export needs the kaleido package "
                     "(pip install kaleido), which is not installed here.")
    files.update({f"checkpoint/{k}": v for k, v in _checkpoint_files(model_id).items()})
    return files, notes


def bundle_panel(key: tuple, model_id: str, table: dict, codes: np.ndarray, x: np.ndarray, y: np.ndarray,
                 class_names: tuple[str, ...], pts: np.ndarray, stem: str, method: str) -> None:
    st.subheader("Parquet, figures, TensorBoard Projector, everything")
    st.caption("Parquet table, the map as " + ("PNG" if kaleido_available() else
               "interactive HTML (PNG needs kaleido, not installed)") +
               ", and the Embedding Projector files: vectors.tsv, metadata.tsv (with header), "
               "sprite.png (a square grid of thumbnails) and projector_config.pbtxt.")
    prepared = st.session_state.get(PREPARED)
    if prepared is None or prepared["key"] != key:
        if st.button("Prepare these files", key="_w.export.prepare"):
            with st.spinner("Building the files…"):
                files, notes = _prepare(model_id, table, codes, x, y, class_names, pts, method)
                projector = {k.split("/", 1)[1]: v for k, v in files.items() if k.startswith("projector/")}
                zips = {"projector": zip_bytes(projector), "all": zip_bytes(files)}     # once, not per rerun
            st.session_state[PREPARED] = {"key": key, "files": files, "zips": zips, "notes": notes}
            st.rerun()                          # redraw without the button
        return
    files = prepared["files"]
    for note in prepared["notes"]:
        st.info(plain(note))
    c = st.columns(4)
    if "embeddings.parquet" in files:
        c[0].download_button("Parquet", files["embeddings.parquet"], file_name=f"{stem}.parquet",
                             mime="application/octet-stream", on_click="ignore", key="_w.export.parquet")
    fig_name = next(k for k in files if k.startswith("figures/"))
    c[1].download_button(f"Map ({fig_name.rsplit('.', 1)[1].upper()})", files[fig_name],
                         file_name=f"{stem}-map.{fig_name.rsplit('.', 1)[1]}", on_click="ignore",
                         key="_w.export.figure")
    c[2].download_button("Projector bundle (.zip)", prepared["zips"]["projector"], file_name=f"{stem}-projector.zip",
                         mime="application/zip", on_click="ignore", key="_w.export.projector")
    c[3].download_button("Everything (.zip)", prepared["zips"]["all"], file_name=f"{stem}-export.zip",
                         mime="application/zip", on_click="ignore", key="_w.export.all", type="primary")
    st.caption(PROJECTOR_HELP)


main()
