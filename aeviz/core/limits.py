"""Every size limit aeviz enforces on untrusted input, named once, with its value.

aeviz serves classrooms and opens files that people upload, so each boundary
caps what it accepts before allocating memory for it. This module is the one
list of those caps. Modules that enforce a limit should import it from here;
until they all do, each entry records where the enforcing constant lives and
``tests/test_security_inputs.py`` fails when the two drift apart.

``LIMITS`` maps a name to a ``Limit``; the plain constants below are the
values to import. ``where`` is ``"module:CONSTANT"`` for a named constant, or
``"module (literal)"`` where the value is still written inline.
"""
from __future__ import annotations

from dataclasses import dataclass

MiB = 2 ** 20

# Uploads (Streamlit's server.maxUploadSize in .streamlit/config.toml is 200 MB too)
UPLOAD_MAX_BYTES = 200 * MiB            # one uploaded data file or checkpoint .zip
UPLOAD_MAX_ITEMS = 200_000              # samples in an uploaded dataset
UPLOAD_MAX_VALUES = 80_000_000          # samples x features after decoding (320 MB float32)
UPLOAD_MAX_CLASSES = 256                # distinct labels in an upload
IMAGE_MAX_SIDE = 64                     # uploaded images are shrunk to fit 64x64 by default
IMAGE_MAX_SOURCE_PIXELS = 1 << 24       # one uploaded image, before decoding (16 Mpx)

# Zip archives (image uploads, checkpoint uploads)
ZIP_MAX_FILES = 10_000
ZIP_MAX_TOTAL_BYTES = 500 * MiB         # counted while decompressing, not read from headers
ZIP_MAX_RATIO = 200                     # per member, beyond its first RATIO_FREE bytes
ZIP_RATIO_FREE_BYTES = 1 * MiB

# Checkpoints and model configs
CHECKPOINT_MAX_JSON_BYTES = 4 * MiB     # config.json, history.json, metrics.json
CHECKPOINT_MAX_HEADER_BYTES = 8 * MiB   # safetensors JSON header
MODEL_MAX_PARAMETERS = 50_000_000       # ~200 MB of float32 weights
MODEL_MAX_INPUT_SIZE = 3 * 256 * 256    # values per sample
MODEL_MAX_LATENT = 1024
MODEL_MAX_WIDTH = 8192                  # one hidden layer / conv channel count
MODEL_MAX_LAYERS = 8
TRAIN_MAX_EPOCHS = 100_000
TRAIN_MAX_BATCH = 65_536

# Training from the app (the Train page is stricter than the CLI)
APP_MAX_EPOCHS = 200
APP_MAX_LATENT = 64
APP_MAX_LAYERS = 4
APP_MAX_WIDTH = 1024
APP_MAX_PARAMETERS = 5_000_000
APP_MAX_SAMPLES_SEEN = 6_000_000        # epochs x training images per run
APP_MAX_CONCURRENT_TRAININGS = 2        # per server process; later runs queue

# Downloaded dataset files
DOWNLOAD_MAX_BYTES = 512 * MiB
IDX_MAX_BYTES = 1 << 31                 # payload of one IDX file
IDX_MAX_NDIM = 4
IDX_MAX_ITEMS = 10_000_000

# Shareable links (URL query string)
QUERY_MAX_VALUE_CHARS = 400
QUERY_MAX_MODELS = 3
QUERY_MAX_INDEX = 10_000_000

# Names that become file names (aeviz.paths.safe_name)
NAME_MAX_CHARS = 64


@dataclass(frozen=True)
class Limit:
    value: int
    unit: str           # "bytes", "count", ...
    where: str          # "module:CONSTANT" enforcing it, or "module (literal)"
    what: str


LIMITS: dict[str, Limit] = {
    "upload bytes": Limit(UPLOAD_MAX_BYTES, "bytes", "aeviz.data.uploads:MAX_BYTES",
                          "size of one uploaded data file"),
    "checkpoint upload bytes": Limit(UPLOAD_MAX_BYTES, "bytes", "aeviz.ui.sources:MAX_UPLOAD_BYTES",
                                     "size of one uploaded checkpoint .zip"),
    "upload items": Limit(UPLOAD_MAX_ITEMS, "count", "aeviz.data.uploads:MAX_ITEMS",
                          "samples in an uploaded dataset"),
    "upload values": Limit(UPLOAD_MAX_VALUES, "count", "aeviz.data.uploads:MAX_VALUES",
                           "samples x features of an upload"),
    "upload classes": Limit(UPLOAD_MAX_CLASSES, "count", "aeviz.data.uploads:MAX_CLASSES",
                            "distinct labels of an upload"),
    "image side": Limit(IMAGE_MAX_SIDE, "pixels", "aeviz.data.images:MAX_SIDE",
                        "default target side of uploaded images"),
    "image source pixels": Limit(IMAGE_MAX_SOURCE_PIXELS, "pixels", "aeviz.data.images:MAX_SOURCE_PIXELS",
                                 "pixels of one uploaded image before decoding"),
    "zip files": Limit(ZIP_MAX_FILES, "count", "aeviz.data.archive:MAX_FILES", "members of a zip"),
    "zip bytes": Limit(ZIP_MAX_TOTAL_BYTES, "bytes", "aeviz.data.archive:MAX_TOTAL_BYTES",
                       "decompressed size of a zip, counted while inflating"),
    "zip ratio": Limit(ZIP_MAX_RATIO, "x", "aeviz.data.archive:MAX_RATIO", "inflation of one member"),
    "zip ratio-free bytes": Limit(ZIP_RATIO_FREE_BYTES, "bytes", "aeviz.data.archive:RATIO_FREE_BYTES",
                                  "members this small are never called bombs"),
    "checkpoint json bytes": Limit(CHECKPOINT_MAX_JSON_BYTES, "bytes", "aeviz.models.checkpoint:MAX_JSON_BYTES",
                                   "config.json / history.json / metrics.json"),
    "safetensors header bytes": Limit(CHECKPOINT_MAX_HEADER_BYTES, "bytes",
                                      "aeviz.models.checkpoint:MAX_HEADER_BYTES", "safetensors JSON header"),
    "model parameters": Limit(MODEL_MAX_PARAMETERS, "count", "aeviz.models.config:MAX_PARAMETERS",
                              "parameters of a model built from any config"),
    "model input size": Limit(MODEL_MAX_INPUT_SIZE, "count", "aeviz.models.config:MAX_INPUT_SIZE",
                              "values per sample"),
    "latent size": Limit(MODEL_MAX_LATENT, "count", "aeviz.models.config:MAX_LATENT", "latent_dim"),
    "layer width": Limit(MODEL_MAX_WIDTH, "count", "aeviz.models.config:MAX_WIDTH", "one hidden width"),
    "layers": Limit(MODEL_MAX_LAYERS, "count", "aeviz.models.config (literal)", "hidden layers"),
    "epochs": Limit(TRAIN_MAX_EPOCHS, "count", "aeviz.models.config (literal)", "TrainConfig.epochs"),
    "batch size": Limit(TRAIN_MAX_BATCH, "count", "aeviz.models.config (literal)", "TrainConfig.batch_size"),
    "app epochs": Limit(APP_MAX_EPOCHS, "count", "aeviz/ui/pages/train.py:MAX_EPOCHS", "Train page"),
    "app latent": Limit(APP_MAX_LATENT, "count", "aeviz/ui/pages/train.py:MAX_LATENT", "Train page"),
    "app layers": Limit(APP_MAX_LAYERS, "count", "aeviz/ui/pages/train.py:MAX_LAYERS", "Train page"),
    "app width": Limit(APP_MAX_WIDTH, "count", "aeviz/ui/pages/train.py:MAX_WIDTH", "Train page"),
    "app parameters": Limit(APP_MAX_PARAMETERS, "count", "aeviz/ui/pages/train.py:MAX_PARAMS",
                            "Train page"),
    "app samples seen": Limit(APP_MAX_SAMPLES_SEEN, "count", "aeviz/ui/pages/train.py:MAX_SAMPLES_SEEN",
                              "epochs x training images per app run"),
    "concurrent trainings": Limit(APP_MAX_CONCURRENT_TRAININGS, "count",
                                  "aeviz.training.jobs:MAX_CONCURRENT", "per server process"),
    "download bytes": Limit(DOWNLOAD_MAX_BYTES, "bytes", "aeviz.data.download:MAX_DOWNLOAD_BYTES",
                            "one downloaded dataset file"),
    "idx bytes": Limit(IDX_MAX_BYTES, "bytes", "aeviz.data.idx:MAX_BYTES", "payload of one IDX file"),
    "idx dimensions": Limit(IDX_MAX_NDIM, "count", "aeviz.data.idx:MAX_NDIM", "dimensions of an IDX file"),
    "idx items": Limit(IDX_MAX_ITEMS, "count", "aeviz.data.idx (literal)", "read_idx(max_items=...)"),
    "query value chars": Limit(QUERY_MAX_VALUE_CHARS, "chars", "aeviz.ui.query:MAX_VALUE_CHARS",
                               "one URL query value"),
    "query models": Limit(QUERY_MAX_MODELS, "count", "aeviz.ui.query:MAX_MODELS", "models in a link"),
    "query index": Limit(QUERY_MAX_INDEX, "count", "aeviz.ui.query:MAX_INDEX", "point index in a link"),
    "name chars": Limit(NAME_MAX_CHARS, "chars", "aeviz.core.paths (literal)", "safe_name"),
}


def table() -> str:
    """The limits as a Markdown table (for the README)."""
    rows = ["| limit | value | enforced in |", "|---|---|---|"]
    for name, lim in LIMITS.items():
        value = f"{lim.value // MiB} MiB" if lim.unit == "bytes" and lim.value >= MiB else f"{lim.value:,}"
        rows.append(f"| {name} ({lim.what}) | {value} | `{lim.where}` |")
    return "\n".join(rows)
