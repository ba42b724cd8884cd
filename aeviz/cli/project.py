"""CLI command ``project``: map a checkpoint's latent codes to 2-D.

    python -m aeviz project DIR --method umap --split test --out map.npz --json

Writes ``embedding`` (N, 2), ``labels``, ``codes`` and ``meta`` (JSON) to
``--out`` in aeviz.mapcache's map-file layout (so the file can ship as
``DIR/maps/<method>-<split>.npz``) and prints timing and map quality.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from aeviz.cli.main import checked_dir, output_file, seed, writing
from aeviz.core.errors import ConfigError
from aeviz.maps.projections import METHOD_NAMES

METHOD_CHOICES = METHOD_NAMES                  # the projection registry's names
# flag -> (parameter name, the methods it applies to)
METHOD_FLAGS = {"n_neighbors": ("n_neighbors", ("umap",)), "min_dist": ("min_dist", ("umap",)),
                "n_epochs": ("n_epochs", ("umap",)), "perplexity": ("perplexity", ("tsne",))}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=checked_dir, help="checkpoint folder")
    p.add_argument("--method", default="umap", choices=METHOD_CHOICES, help="projection method")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--dataset", help="dataset (default: the one the model was trained on)")
    p.add_argument("--data-dir", type=checked_dir, help="folder with <dataset>/<files>")
    p.add_argument("--n-neighbors", type=int, help="umap: neighbours per point (default 15)")
    p.add_argument("--min-dist", type=float, help="umap: minimum distance in the map (default 0.1)")
    p.add_argument("--n-epochs", type=int, help="umap: optimisation epochs (default: auto)")
    p.add_argument("--perplexity", type=float, help="tsne: perplexity (default 30)")
    p.add_argument("--seed", type=seed, default=0, help="random seed of the projection")
    p.add_argument("--subsample", type=int, metavar="N",
                   help="map a stratified subsample of N points (seeded by --seed)")
    p.add_argument("--out", type=checked_dir, help="write the map here (.npz)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the map cache")


def method_params_from_args(args) -> dict:
    """Projection parameters given on the command line; a flag for another method is an error."""
    params = {}
    for flag, (name, methods) in METHOD_FLAGS.items():
        value = getattr(args, flag, None)
        if value is None:
            continue
        if args.method not in methods:
            raise ConfigError(f"--{flag.replace('_', '-')} applies to {'/'.join(methods)} only, "
                              f"not to --method {args.method}")
        params[name] = value
    return params


def run_projection(codes: np.ndarray, labels: np.ndarray | None, args,
                   model_id: str = "cli") -> tuple[np.ndarray, dict]:
    """Map ``codes`` as the flags in ``args`` say: (embedding (N, 2), info)."""
    from aeviz.maps.store import cached_projection
    params = method_params_from_args(args)
    cache = False if getattr(args, "no_cache", False) else None
    return cached_projection(codes, labels, args.method, params, args.seed, model_id,
                             getattr(args, "split", "test"), cache=cache)


def _codes_of(args) -> tuple[np.ndarray, np.ndarray, str]:
    """(codes, labels, model id) of the checkpoint's split, subsampled if asked."""
    from aeviz.cli.main import checkpoint_with_data
    from aeviz.maps.projections import stratified_subsample
    ckpt, data = checkpoint_with_data(args)
    x, y = data.split(args.split)
    if args.subsample is not None:
        if args.subsample < 1:
            raise ConfigError(f"--subsample must be a positive number of points, got {args.subsample}")
        idx = stratified_subsample(y, args.subsample, seed=args.seed)
        x, y = x[idx], y[idx]
    model_id = f"{Path(args.dir).resolve()}:{data.name}"
    return ckpt.model.encode_numpy(x), np.asarray(y), model_id


def run(args) -> int:
    from aeviz.cli.main import print_json
    from aeviz.maps.mapfile import read_map_file, write_map_file
    from aeviz.maps.store import map_meta
    if args.out:        # checked before the slow part: a map file of aeviz's, or a new path
        args.out = output_file(args.out, "--out", lambda p: read_map_file(p) is not None, "a map file")
    codes, labels, model_id = _codes_of(args)
    emb, info = run_projection(codes, labels, args, model_id=model_id)
    summary = {k: info[k] for k in ("method", "params", "seed", "n_points", "seconds",
                                    "fit_seconds", "cache_hit", "trustworthiness", "knn_accuracy")}
    summary.update(split=args.split, subsample=args.subsample, out=str(args.out) if args.out else None)
    if args.out:
        meta = map_meta(info["method"], info["params"], info["seed"], args.split, codes,
                        fit_seconds=info["fit_seconds"], trustworthiness=info["trustworthiness"],
                        knn_accuracy=info["knn_accuracy"])
        with writing(args.out):
            write_map_file(Path(args.out), {"embedding": emb, "labels": labels, "codes": codes,
                                            "meta": meta})
    if args.json:
        print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key:>16}: {value:.4f}" if isinstance(value, float) else f"{key:>16}: {value}")
    if args.out and not args.json:
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
