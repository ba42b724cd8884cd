"""Every size limit aeviz enforces on untrusted input: the one definition of each.

aeviz serves classrooms and opens files that people upload, so each boundary
caps what it accepts before allocating memory for it. The modules that
enforce a limit import its constant from here (``from aeviz.core import
limits`` then ``limits.ZIP_MAX_FILES``); none keeps a copy of the value.

``LIMITS`` maps each constant's name to a ``Limit``: its value, unit, the
modules that enforce it and what it bounds. ``tests/system/test_security_inputs.py``
checks that each of those modules reads the constant, that no module restates
one, and that each boundary refuses one over its limit and accepts the limit.
This module imports nothing from aeviz: every layer may import it.
"""
from __future__ import annotations

from dataclasses import dataclass

MiB = 2 ** 20

# Uploads (Streamlit's server.maxUploadSize in .streamlit/config.toml is 200 MB too)
UPLOAD_MAX_BYTES = 200 * MiB
UPLOAD_MAX_ITEMS = 200_000
UPLOAD_MAX_VALUES = 80_000_000
UPLOAD_MAX_CLASSES = 256
IMAGE_MAX_SIDE = 64
IMAGE_MAX_SOURCE_PIXELS = 1 << 24
# Pixels of all images in one upload, summed from their headers before any is decoded.
# Decoding costs CPU per source pixel (a 702-byte lossless WebP of 4096x4096 takes 0.4-0.6 s),
# so a per-image cap alone let one zip cost hours. 256 Mpx admits UPLOAD_MAX_ITEMS images of
# 28x28 (157 Mpx) or 60,000 of 64x64 (246 Mpx) and costs at most ~10 s of decoding on one core.
UPLOAD_MAX_TOTAL_PIXELS = 1 << 28

# Zip archives (image uploads, checkpoint uploads)
ZIP_MAX_FILES = 10_000
ZIP_MAX_TOTAL_BYTES = 500 * MiB
ZIP_MAX_RATIO = 200
ZIP_RATIO_FREE_BYTES = 1 * MiB

# Checkpoints, model and training configs
CHECKPOINT_MAX_JSON_BYTES = 4 * MiB
CHECKPOINT_MAX_HEADER_BYTES = 8 * MiB
CHECKPOINT_MAX_STAGES = 32
MODEL_MAX_PARAMETERS = 50_000_000
MODEL_MAX_INPUT_SIZE = 3 * 256 * 256
MODEL_MAX_LATENT = 1024
MODEL_MAX_WIDTH = 8192
MODEL_MAX_LAYERS = 8
TRAIN_MAX_EPOCHS = 100_000
TRAIN_MAX_BATCH = 65_536
MAP_MAX_FILE_BYTES = 256 * MiB       # one map .npz (cache entries are stored uncompressed)
MAP_MAX_INFLATED_BYTES = 256 * MiB   # its arrays, from the zip directory, before inflating
MAP_MAX_POINTS = 1_000_000           # rows of one map (a split of 200,000 uploads fits 5x)
MAP_CACHE_MAX_BYTES = 512 * MiB      # all map cache entries together; least recently used go first
MAP_CACHE_MAX_ENTRIES = 256          # map cache entries (one per model, split, method and params)
PRIOR_MAX_COMPONENTS = 64            # components of an AAE's mixture prior (its discriminator input grows with it)
TIMELINE_MAX_VALUES = 4_000_000      # codes of one training timeline: frames x points x latent size
TIMELINE_MAX_BYTES = 16 * MiB        # its timeline.npz, on disk and inflated (float16 codes: 8 MB at most)
TIMELINE_MAX_WEIGHT_BYTES = 48 * MiB # its weight snapshots together (3 x 8 M float16); a bigger model keeps codes only

# Training from the app (the Train page is stricter than the CLI)
APP_MAX_EPOCHS = 200
APP_MAX_LATENT = 64
APP_MAX_LAYERS = 4
APP_MAX_WIDTH = 1024
APP_MAX_PARAMETERS = 5_000_000
APP_MAX_SAMPLES_SEEN = 6_000_000
APP_MAX_CONCURRENT_TRAININGS = 2
# Compute budgets: estimated from FLOPs (aeviz.models.compute) against this machine's speed,
# because parameters and images seen let a 4.9 M-parameter conv model cost ~500 h of one slot.
APP_MAX_TRAIN_SECONDS = 20 * 60                     # estimated wall time of one app training run
APP_MAX_TRAIN_WALL_SECONDS = 2 * APP_MAX_TRAIN_SECONDS   # hard stop of a run (estimates are rough)
APP_MAX_ENCODE_SECONDS = 60                         # estimated time to encode one split with a user's model

# Per-session uploads: what one browser session may keep of uploaded checkpoints (disk and RAM:
# each kept model is also loaded), so re-sending a 33 MB model does not grow the server without end
UPLOAD_SESSION_MAX_MODELS = 5
UPLOAD_SESSION_MAX_BYTES = 400 * MiB
UPLOAD_NAME_MAX_CHARS = 80
UPLOAD_SERVER_MAX_BYTES = 4096 * MiB     # all sessions together: many tabs of one person included
# Per-session uploaded datasets, kept on disk as float32 samples + int64 labels and memory-mapped
UPLOAD_SESSION_MAX_DATASETS = 3
UPLOAD_SESSION_MAX_DATA_BYTES = 400 * MiB    # one upload of UPLOAD_MAX_VALUES (320 MB) fits

# Downloaded dataset files
DOWNLOAD_MAX_BYTES = 512 * MiB
IDX_MAX_BYTES = 1 << 31
IDX_MAX_NDIM = 4
IDX_MAX_ITEMS = 10_000_000

# Shareable links (URL query string)
QUERY_MAX_VALUE_CHARS = 400
QUERY_MAX_MODELS = 3
QUERY_MAX_INDEX = 10_000_000

# Decoded grids and traversals (Decode page: each cell is one decoder call)
LATENT_MAX_GRID = 32

# Names that become file names (aeviz.core.paths.safe_name)
NAME_MAX_CHARS = 64
PATH_MAX_BYTES = 4096
PATH_COMPONENT_MAX_BYTES = 255
SEED_MAX = 2 ** 32 - 1
REPORT_MAX_BYTES = 4 * MiB


@dataclass(frozen=True)
class Limit:
    value: int
    unit: str                   # "bytes", "count", "pixels", "chars", "seconds", "x" (a ratio)
    where: tuple[str, ...]      # the modules that enforce it, each reading the constant
    what: str                   # what it bounds, and why where that is not obvious


_ARCHIVE, _UPLOADS, _IMAGES = "aeviz.data.archive", "aeviz.data.uploads", "aeviz.data.images"
_CKPT, _CONFIG, _TRAIN_PAGE = "aeviz.models.checkpoint", "aeviz.models.config", "aeviz.ui.pages.train"
_IDX, _QUERY = "aeviz.data.idx", "aeviz.ui.query"
_STORE, _MAPFILE, _JUDGE = "aeviz.maps.store", "aeviz.maps.mapfile", "aeviz.metrics.judge"

LIMITS: dict[str, Limit] = {
    "LATENT_MAX_GRID": Limit(LATENT_MAX_GRID, "count", ("aeviz.latent.arithmetic",),
                             "cells per side of a decoded grid or steps of a traversal"),
    "UPLOAD_MAX_BYTES": Limit(UPLOAD_MAX_BYTES, "bytes", (_UPLOADS, "aeviz.ui.sources", "aeviz.ui.datasets"),
                              "one uploaded data file or checkpoint .zip"),
    "UPLOAD_MAX_ITEMS": Limit(UPLOAD_MAX_ITEMS, "count", (_UPLOADS, "aeviz.ui.datasets"),
                              "samples in an uploaded dataset"),
    "UPLOAD_MAX_VALUES": Limit(UPLOAD_MAX_VALUES, "count", (_UPLOADS,),
                               "samples x features of an upload after decoding (320 MB of float32)"),
    "UPLOAD_MAX_CLASSES": Limit(UPLOAD_MAX_CLASSES, "count", (_UPLOADS,), "distinct labels in an upload"),
    "IMAGE_MAX_SIDE": Limit(IMAGE_MAX_SIDE, "pixels", (_IMAGES, _UPLOADS),
                            "default target side of uploaded images (image_size: at most 8x this)"),
    "IMAGE_MAX_SOURCE_PIXELS": Limit(IMAGE_MAX_SOURCE_PIXELS, "pixels", (_IMAGES,),
                                     "one uploaded image before decoding (decompression bombs)"),
    "ZIP_MAX_FILES": Limit(ZIP_MAX_FILES, "count", (_ARCHIVE,), "members of one zip"),
    "ZIP_MAX_TOTAL_BYTES": Limit(ZIP_MAX_TOTAL_BYTES, "bytes", (_ARCHIVE,),
                                 "inflated size of one zip, counted while inflating (headers can lie)"),
    "ZIP_MAX_RATIO": Limit(ZIP_MAX_RATIO, "x", (_ARCHIVE,),
                           "inflation of one member beyond its first ZIP_RATIO_FREE_BYTES"),
    "ZIP_RATIO_FREE_BYTES": Limit(ZIP_RATIO_FREE_BYTES, "bytes", (_ARCHIVE,),
                                  "members this small are never called bombs (text compresses > 200x)"),
    "CHECKPOINT_MAX_JSON_BYTES": Limit(CHECKPOINT_MAX_JSON_BYTES, "bytes", (_CKPT, "aeviz.models.folder", _JUDGE),
                                       "config.json, history.json or metrics.json"),
    "CHECKPOINT_MAX_HEADER_BYTES": Limit(CHECKPOINT_MAX_HEADER_BYTES, "bytes", (_CKPT, _JUDGE),
                                         "safetensors JSON header"),
    "CHECKPOINT_MAX_STAGES": Limit(CHECKPOINT_MAX_STAGES, "count", (_CKPT,),
                                   "training stages recorded in one config.json"),
    "MAP_MAX_FILE_BYTES": Limit(MAP_MAX_FILE_BYTES, "bytes", (_MAPFILE,),
                                "one map .npz: shipped in a checkpoint's maps/ or a cache entry"),
    "MAP_MAX_INFLATED_BYTES": Limit(MAP_MAX_INFLATED_BYTES, "bytes", (_MAPFILE, _STORE),
                                    "the arrays of one map .npz, from its zip directory, before inflating"),
    "MAP_MAX_POINTS": Limit(MAP_MAX_POINTS, "count", (_MAPFILE,), "points (rows) of one map"),
    "TIMELINE_MAX_VALUES": Limit(TIMELINE_MAX_VALUES, "count", ("aeviz.training.timeline",),
                                 "codes one training timeline records (frames x points x latent size)"),
    "PRIOR_MAX_COMPONENTS": Limit(PRIOR_MAX_COMPONENTS, "count", ("aeviz.models.priors", "aeviz.ui.family_fields"),
                                  "components of an adversarial AE's mixture prior"),
    "TIMELINE_MAX_WEIGHT_BYTES": Limit(TIMELINE_MAX_WEIGHT_BYTES, "bytes", ("aeviz.training.timeline",),
                                       "a timeline's float16 weight snapshots; a bigger model keeps codes only"),
    "TIMELINE_MAX_BYTES": Limit(TIMELINE_MAX_BYTES, "bytes", ("aeviz.training.timeline",),
                                "a checkpoint's timeline.npz, on disk and inflated"),
    "MAP_CACHE_MAX_BYTES": Limit(MAP_CACHE_MAX_BYTES, "bytes", (_STORE,),
                                 "all map cache entries; the least recently used are evicted"),
    "MAP_CACHE_MAX_ENTRIES": Limit(MAP_CACHE_MAX_ENTRIES, "count", (_STORE,),
                                   "map cache entries; the least recently used are evicted"),
    "MODEL_MAX_PARAMETERS": Limit(MODEL_MAX_PARAMETERS, "count", (_CONFIG,),
                                  "parameters of a model built from any config (~200 MB of float32)"),
    "MODEL_MAX_INPUT_SIZE": Limit(MODEL_MAX_INPUT_SIZE, "count", (_CONFIG,), "values per sample"),
    "MODEL_MAX_LATENT": Limit(MODEL_MAX_LATENT, "count", (_CONFIG,), "latent_dim"),
    "MODEL_MAX_WIDTH": Limit(MODEL_MAX_WIDTH, "count", (_CONFIG,), "one hidden width or conv channel count"),
    "MODEL_MAX_LAYERS": Limit(MODEL_MAX_LAYERS, "count", (_CONFIG,), "hidden layers"),
    "TRAIN_MAX_EPOCHS": Limit(TRAIN_MAX_EPOCHS, "count", (_CONFIG,), "TrainConfig.epochs"),
    "TRAIN_MAX_BATCH": Limit(TRAIN_MAX_BATCH, "count", (_CONFIG,), "TrainConfig.batch_size"),
    "APP_MAX_EPOCHS": Limit(APP_MAX_EPOCHS, "count", (_TRAIN_PAGE,), "epochs of one run on the Train page"),
    "APP_MAX_LATENT": Limit(APP_MAX_LATENT, "count", (_TRAIN_PAGE,), "latent size on the Train page"),
    "APP_MAX_LAYERS": Limit(APP_MAX_LAYERS, "count", (_TRAIN_PAGE,), "hidden layers on the Train page"),
    "APP_MAX_WIDTH": Limit(APP_MAX_WIDTH, "count", (_TRAIN_PAGE,), "one hidden width on the Train page"),
    "APP_MAX_PARAMETERS": Limit(APP_MAX_PARAMETERS, "count", (_TRAIN_PAGE,),
                                "parameters of a model trained from the app"),
    "APP_MAX_SAMPLES_SEEN": Limit(APP_MAX_SAMPLES_SEEN, "count", (_TRAIN_PAGE,),
                                  "epochs x training images per app run (~100 MNIST epochs on two cores)"),
    "APP_MAX_CONCURRENT_TRAININGS": Limit(APP_MAX_CONCURRENT_TRAININGS, "count", ("aeviz.training.jobs",),
                                          "training threads at once per server process; later runs queue"),
    "DOWNLOAD_MAX_BYTES": Limit(DOWNLOAD_MAX_BYTES, "bytes", ("aeviz.data.download",),
                                "one downloaded dataset file"),
    "IDX_MAX_BYTES": Limit(IDX_MAX_BYTES, "bytes", (_IDX,), "payload of one IDX file (MNIST's is 47 MB)"),
    "IDX_MAX_NDIM": Limit(IDX_MAX_NDIM, "count", (_IDX,), "dimensions of an IDX file"),
    "IDX_MAX_ITEMS": Limit(IDX_MAX_ITEMS, "count", (_IDX,), "items (first dimension) of an IDX file"),
    "QUERY_MAX_VALUE_CHARS": Limit(QUERY_MAX_VALUE_CHARS, "chars", (_QUERY,), "one URL query value"),
    "QUERY_MAX_MODELS": Limit(QUERY_MAX_MODELS, "count", (_QUERY,), "models in a shareable link"),
    "QUERY_MAX_INDEX": Limit(QUERY_MAX_INDEX, "count", (_QUERY,), "point index in a shareable link (exclusive)"),
    "NAME_MAX_CHARS": Limit(NAME_MAX_CHARS, "chars", ("aeviz.core.paths",),
                            "a name that becomes a file name (safe_name)"),
    "PATH_MAX_BYTES": Limit(PATH_MAX_BYTES, "bytes", ("aeviz.core.paths",),
                            "a path given on the command line (Linux PATH_MAX)"),
    "PATH_COMPONENT_MAX_BYTES": Limit(PATH_COMPONENT_MAX_BYTES, "bytes", ("aeviz.core.paths",),
                                      "one component of such a path (Linux NAME_MAX)"),
    "REPORT_MAX_BYTES": Limit(REPORT_MAX_BYTES, "bytes", ("aeviz.metrics.report",),
                              "a comparison report read back to check it is aeviz's own"),
    "SEED_MAX": Limit(SEED_MAX, "count", ("aeviz.cli.main",), "a random seed (numpy's 32-bit range)"),
    "UPLOAD_MAX_TOTAL_PIXELS": Limit(UPLOAD_MAX_TOTAL_PIXELS, "pixels", (_IMAGES,),
                                     "all images of one upload, from their headers, before decoding"),
    "APP_MAX_TRAIN_SECONDS": Limit(APP_MAX_TRAIN_SECONDS, "seconds", ("aeviz.training.jobs",),
                                   "estimated wall time of one training run from the app"),
    "APP_MAX_TRAIN_WALL_SECONDS": Limit(APP_MAX_TRAIN_WALL_SECONDS, "seconds", ("aeviz.training.jobs",),
                                        "wall time after which an app training run is stopped"),
    "APP_MAX_ENCODE_SECONDS": Limit(APP_MAX_ENCODE_SECONDS, "seconds", ("aeviz.ui.cache",),
                                    "estimated time to encode a split with an uploaded or user model"),
    "UPLOAD_SESSION_MAX_MODELS": Limit(UPLOAD_SESSION_MAX_MODELS, "count", ("aeviz.ui.sources",),
                                       "uploaded models one session keeps at once"),
    "UPLOAD_SESSION_MAX_BYTES": Limit(UPLOAD_SESSION_MAX_BYTES, "bytes", ("aeviz.ui.sources",),
                                      "checkpoint files one session keeps on disk (two of the largest models)"),
    "UPLOAD_SERVER_MAX_BYTES": Limit(UPLOAD_SERVER_MAX_BYTES, "bytes", ("aeviz.ui.sources", "aeviz.ui.datasets"),
                                     "uploaded checkpoints and datasets all sessions of one server keep on disk"),
    "UPLOAD_SESSION_MAX_DATASETS": Limit(UPLOAD_SESSION_MAX_DATASETS, "count", ("aeviz.ui.datasets",),
                                         "uploaded datasets one session keeps at once"),
    "UPLOAD_SESSION_MAX_DATA_BYTES": Limit(UPLOAD_SESSION_MAX_DATA_BYTES, "bytes", ("aeviz.ui.datasets",),
                                           "uploaded datasets one session keeps, as float32 samples on disk"),
    "UPLOAD_NAME_MAX_CHARS": Limit(UPLOAD_NAME_MAX_CHARS, "chars", ("aeviz.ui.sources", "aeviz.ui.datasets"),
                                   "an uploaded file's name as shown in labels"),
}


def table() -> str:
    """The limits as a Markdown table (for the README)."""
    rows = ["| limit | value | unit | enforced in |", "|---|---|---|---|"]
    for name, lim in LIMITS.items():
        value = f"{lim.value // MiB} MiB" if lim.unit == "bytes" and lim.value >= MiB else f"{lim.value:,}"
        where = ", ".join(f"`{module}`" for module in lim.where)
        rows.append(f"| `{name}`: {lim.what} | {value} | {lim.unit} | {where} |")
    return "\n".join(rows)
