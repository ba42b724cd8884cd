"""Named datasets: a registry, lookup in local data folders, download on demand.

``load_dataset("mnist")`` looks for ``<dir>/mnist/<file>`` in each folder of
``aeviz.paths.data_dirs`` (AEVIZ_DATA_DIR, the cache, Debian's
/usr/share/datasets), downloads into the cache when allowed, verifies MD5s and
returns a read-only Dataset cached in-process (MNIST parsing costs ~1 s).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from aeviz.data import loaders
from aeviz.data.dataset import Dataset
from aeviz.data.download import DownloadError, Progress, download, file_version, verify_file
from aeviz.core.errors import DataError
from aeviz.core.paths import cache_dir, data_dirs

__all__ = ["Dataset", "DatasetSpec", "DATASETS", "load_dataset", "list_datasets", "find_files",
           "clear_cache", "kin", "noun"]

_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                  "https://storage.googleapis.com/cvdf-datasets/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
_FREY_MIRRORS = ("https://cs.nyu.edu/~roweis/data/",)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    kind: str                                  # "image" | "vector"
    loader: Callable[[Path | None], Dataset]   # folder holding `files` (None for built-ins)
    files: tuple[str, ...] = ()                # empty: built in, nothing to find or fetch
    md5: tuple[str, ...] = ()                  # one per file
    sizes: tuple[int, ...] = ()                # bytes per file, for one progress total
    mirrors: tuple[str, ...] = ()              # base URLs; file names are appended
    subset_of: str = ""                        # drawn from this dataset: its models are this one's too
    noun: str = "items"                        # what one item is, in page text ("handwritten digits")

    @property
    def builtin(self) -> bool:
        return not self.files


def _specs() -> dict[str, DatasetSpec]:
    specs = [
        DatasetSpec("digits", "8x8 handwritten digits, 1,797 images (built in)", "image",
                    loaders.load_digits, noun="handwritten digits"),
        DatasetSpec("mnist-small", "28x28 handwritten digits, 5,000 of MNIST's (built in)", "image",
                    loaders.load_mnist_small, subset_of="mnist", noun="handwritten digits"),
        DatasetSpec("mnist", "28x28 handwritten digits, 70,000 images", "image",
                    loaders.load_mnist, loaders.IDX_FILES,
                    ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                     "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
                    (9_912_422, 28_881, 1_648_877, 4_542), _MNIST_MIRRORS, noun="handwritten digits"),
        DatasetSpec("fashion-mnist", "28x28 clothing images in 10 classes, 70,000 images",
                    "image", loaders.load_fashion, loaders.IDX_FILES,
                    ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                     "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
                    (26_421_880, 29_515, 4_422_102, 5_148), _FASHION_MIRRORS,
                    noun="clothing images"),
        DatasetSpec("frey-faces", "28x20 grey faces of one person, 1,965 images", "image",
                    loaders.load_frey, (loaders.FREY_FILE,), ("5aeb024d42b8a6091f30e5eb18c8a48d",),
                    (1_100_584,), _FREY_MIRRORS, noun="faces"),
    ]
    specs += [DatasetSpec(name, toy.description + " (built in)", "vector",
                          loaders.TOY_LOADERS[name], noun="points") for name, toy in loaders.TOYS.items()]
    return {s.name: s for s in specs}


DATASETS: dict[str, DatasetSpec] = _specs()


def get_spec(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}") from None


def kin(name: str) -> tuple[str, ...]:
    """``name`` and the dataset it was drawn from: a model trained on either belongs to both."""
    spec = DATASETS.get(name) if isinstance(name, str) else None
    return (name, spec.subset_of) if spec is not None and spec.subset_of else (name,)


def noun(name: str) -> str:
    """What one item of ``name`` is, for page text; "items" for a dataset not registered (an upload)."""
    spec = DATASETS.get(name) if isinstance(name, str) else None
    return spec.noun if spec is not None else "items"


def find_files(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The first ``<dir>/<name>`` folder holding every file of ``name`` (None for built-ins)."""
    spec = get_spec(name)
    if spec.builtin:
        return None
    for base in data_dirs(data_dir):
        folder = base / name
        if all((folder / f).is_file() for f in spec.files):
            return folder
    return None


def list_datasets(data_dir: str | Path | None = None) -> list[dict]:
    """One row per registered dataset: name, description, kind, available, where."""
    rows = []
    for spec in DATASETS.values():
        folder = find_files(spec.name, data_dir)
        if spec.builtin:
            where = "built-in"
        elif folder is not None:
            where = str(folder)
        elif spec.mirrors:
            where = f"downloadable from {urlparse(spec.mirrors[0]).hostname}"
        else:
            where = "missing"
        rows.append({"name": spec.name, "description": spec.description, "kind": spec.kind,
                     "available": spec.builtin or folder is not None, "where": where})
    return rows


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = True,
                 progress: Progress | None = None) -> Dataset:
    """Load a registered dataset, downloading its files into the cache if allowed.

    ``progress(done, total)`` is called while downloading, in bytes summed over
    the dataset's missing files (total 0 when unknown).

    The result is shared between callers (cached per name, folder and file
    versions): its arrays are read-only; copy them before modifying.
    """
    spec = get_spec(name)
    if spec.builtin:
        return _load_cached(name, None, ())
    folder = find_files(name, data_dir)
    if folder is None:
        if not download:
            raise DataError(_missing_message(spec, data_dir, "downloading is switched off"))
        folder = _download(spec, data_dir, progress)
    for file, md5 in zip(spec.files, spec.md5):
        verify_file(folder / file, md5)
    versions = tuple(file_version(folder / f) for f in spec.files)
    return _load_cached(name, str(folder.resolve()), versions)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, folder: str | None, versions: tuple) -> Dataset:
    # `versions` (file_version of each file) is part of the key so a replaced file is re-read
    return DATASETS[name].loader(None if folder is None else Path(folder))


def clear_cache() -> None:
    """Forget the in-process copies (tests; or to free memory)."""
    _load_cached.cache_clear()


def _download(spec: DatasetSpec, data_dir: str | Path | None, progress: Progress | None) -> Path:
    """Fetch the missing files into the cache; progress counts bytes over all of them."""
    folder = cache_dir() / "data" / spec.name
    sizes = dict(zip(spec.files, spec.sizes))
    needed = [(f, m) for f, m in zip(spec.files, spec.md5) if not (folder / f).is_file()]
    total, base = sum(sizes.get(f, 0) for f, _ in needed), 0
    for file, md5 in needed:
        report = None if progress is None else \
            (lambda done, _total, base=base: progress(base + done, total))
        try:
            download([url + file for url in spec.mirrors], folder / file, md5, report)
        except DownloadError as e:
            raise DataError(_missing_message(spec, data_dir, str(e))) from None
        base += (folder / file).stat().st_size
    return folder


def _missing_message(spec: DatasetSpec, data_dir: str | Path | None, why: str) -> str:
    files = "; ".join(f"{f} (md5 {m})" for f, m in zip(spec.files, spec.md5))
    folders = ", ".join(str(d / spec.name) for d in data_dirs(data_dir))
    return (f"dataset {spec.name!r} is not available here and was not downloaded ({why}). "
            f"Put these files: {files} into one of: {folders} "
            f"(or set AEVIZ_DATA_DIR to a folder that has a {spec.name}/ sub-folder with them).")
