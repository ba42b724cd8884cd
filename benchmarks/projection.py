"""Projection speed and quality: aeviz's UMAP / t-SNE against the libraries' defaults.

    python benchmarks/projection.py [--sizes 2000,10000,70000] [--quick] [--inverse]

Codes: sklearn digits PCA(16) always; with MNIST in $AEVIZ_DATA_DIR (or
--data-dir) also PCA(16) of MNIST pixels at each size (a seeded random
subset of all 70k images). PCA codes stand in for autoencoder codes: same
width, similar cluster structure, and no training needed to reproduce.

Baselines run with their defaults plus random_state=0:
``umap.UMAP().fit_transform`` and ``sklearn.manifold.TSNE().fit_transform``
(skipped above 20k points: it takes tens of minutes). numba code is
JIT-compiled once on a small input before anything is timed, for both sides.
Times are wall-clock seconds; "cpu" is process CPU seconds (all threads),
shown because a shared machine makes wall time noisy. Trustworthiness:
k=10, on a seeded 5000-point subsample above that size.

``--inverse`` measures the map -> code estimators of aeviz.maps.inverse
(held-out error, see that module's docstring).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aeviz.maps.inverse import INVERSES, make_inverse            # noqa: E402
from aeviz.maps.quality import trustworthiness               # noqa: E402
from aeviz.maps.projections import make_projection                  # noqa: E402
from aeviz.maps.nonlinear import import_umap            # noqa: E402

SKLEARN_TSNE_MAX = 20_000


def digits_codes(dims: int = 16) -> tuple[str, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    d = load_digits()
    codes = PCA(dims, random_state=0).fit_transform(d.data / 16.0).astype(np.float32)
    return f"digits PCA({dims})", codes, d.target


def mnist_codes(n: int, data_dir: str | None) -> tuple[str, np.ndarray, np.ndarray] | None:
    from sklearn.decomposition import PCA

    from aeviz.data.registry import find_files, load_dataset
    if find_files("mnist", data_dir) is None:
        return None
    d = load_dataset("mnist", data_dir, download=False)
    x = np.concatenate([d.x_train, d.x_test]).reshape(70_000, -1)
    y = np.concatenate([d.y_train, d.y_test])
    idx = np.sort(np.random.default_rng(0).permutation(len(x))[:n])
    codes = PCA(16, random_state=0).fit_transform(x[idx]).astype(np.float32)
    return "MNIST PCA(16)", codes, y[idx]


def gaussian_mixture(n: int = 2000, dims: int = 16, k: int = 10) -> tuple[str, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, k, n)
    centres = rng.normal(0, 4, (k, dims))
    codes = centres[labels] + rng.normal(0, 1, (n, dims))
    return f"Gaussian mixture ({dims}-D)", codes.astype(np.float32), labels


def timed(fn) -> tuple[np.ndarray, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return np.asarray(out), time.perf_counter() - wall, time.process_time() - cpu


def baselines() -> dict:
    from sklearn.manifold import TSNE

    def umap_default(x):
        return import_umap().UMAP(random_state=0).fit_transform(x)

    def sklearn_tsne(x):
        return TSNE(random_state=0).fit_transform(x)
    return {"umap": umap_default, "tsne": sklearn_tsne}


def ours(method: str, seed: int | None = 0):
    return lambda x: make_projection(method, random_state=seed).fit(x).embedding_


def warm_up() -> None:
    """Compile numba code paths of both sides on a small input (not timed)."""
    _, x, _ = gaussian_mixture(600)
    for fn in (*baselines().values(), ours("umap"), ours("umap", None), ours("tsne")):
        fn(x)
    make_projection("umap").fit(x).transform(x[:10] + 0.01)
    _, x, _ = gaussian_mixture(5000)        # > 4096 points: umap's NN-descent path (used above 20k)
    import_umap().UMAP(random_state=0, n_epochs=2).fit(x)


def run_projection_table(datasets: list, methods: list[str]) -> None:
    print("| method | codes | N | baseline s (cpu) | ours s (cpu) | speed-up | "
          "trustworthiness baseline / ours | ours unseeded, parallel s (trust.) |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    base = baselines()
    for name, codes, _ in datasets:
        for method in methods:
            n = len(codes)
            emb, wall, cpu = timed(lambda: ours(method)(codes))
            tw = trustworthiness(codes, emb)
            par = "-"
            if method == "umap":        # umap-learn runs single-threaded when seeded
                p_emb, p_wall, _ = timed(lambda: ours(method, None)(codes))
                par = f"{p_wall:.1f} ({trustworthiness(codes, p_emb):.4f})"
            if method == "tsne" and n > SKLEARN_TSNE_MAX:
                print(f"| {method} | {name} | {n} | skipped (sklearn t-SNE takes tens of minutes "
                      f"here) | {wall:.1f} ({cpu:.0f}) | - | - / {tw:.4f} | {par} |", flush=True)
                continue
            b_emb, b_wall, b_cpu = timed(lambda: base[method](codes))
            b_tw = trustworthiness(codes, b_emb)
            print(f"| {method} | {name} | {n} | {b_wall:.1f} ({b_cpu:.0f}) | {wall:.1f} ({cpu:.0f}) "
                  f"| {b_wall / wall:.1f}x | {b_tw:.4f} / {tw:.4f} | {par} |", flush=True)


def run_inverse_table(datasets: list) -> None:
    """Held-out relative MSE of each inverse on UMAP and t-SNE maps (80/20 split)."""
    print("\n| codes | map | " + " | ".join(f"{k} error (fit s)" for k in sorted(INVERSES)) + " |")
    print("|---|---|" + "---|" * len(INVERSES), flush=True)
    for name, codes, _ in datasets:
        for method in ("umap", "tsne"):
            emb = make_projection(method, random_state=0).fit(codes).embedding_
            order = np.random.default_rng(0).permutation(len(codes))
            train, test = order[: int(0.8 * len(codes))], order[int(0.8 * len(codes)):]
            cells = []
            for kind in sorted(INVERSES):
                start = time.perf_counter()
                est = make_inverse(kind).fit(emb[train], codes[train])
                seconds = time.perf_counter() - start
                err = ((est.predict(emb[test]) - codes[test]) ** 2).sum(1).mean()
                cells.append(f"{err / codes[train].var(0).sum():.3f} ({seconds:.1f})")
            print(f"| {name} ({len(codes)}) | {method} | " + " | ".join(cells) + " |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000,70000", help="MNIST subset sizes")
    parser.add_argument("--quick", action="store_true", help="digits and 2000 MNIST codes only")
    parser.add_argument("--methods", default="umap,tsne")
    parser.add_argument("--inverse", action="store_true", help="only the inverse-estimator table")
    parser.add_argument("--data-dir", default=os.environ.get("AEVIZ_DATA_DIR"))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.inverse:
        from sklearn.datasets import load_digits
        from sklearn.decomposition import PCA
        d = load_digits()
        digits8 = ("digits PCA(8)", PCA(8, random_state=0).fit_transform(d.data / 16.0)
                   .astype(np.float32), d.target)
        sets = [digits8, gaussian_mixture()]
        mnist = mnist_codes(5000, args.data_dir)
        run_inverse_table(sets + ([mnist] if mnist else []))
        return 0
    sizes = [2000] if args.quick else [int(s) for s in args.sizes.split(",") if s]
    datasets = [digits_codes()] + [m for m in (mnist_codes(n, args.data_dir) for n in sizes) if m]
    print(f"# projection benchmark: {os.cpu_count()} cores visible, "
          f"{len(os.sched_getaffinity(0))} usable\n", flush=True)
    warm_up()
    run_projection_table(datasets, args.methods.split(","))
    return 0


if __name__ == "__main__":
    sys.exit(main())
