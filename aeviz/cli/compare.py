"""``python -m aeviz compare DIR1 DIR2 ... --dataset NAME [--out PREFIX] [--json]``.

Evaluates each checkpoint on one dataset split with ``metrics.evaluate``, adds
a PCA baseline fitted on the train split at each latent size present, prints
a Markdown report (or JSON) and writes PREFIX.md + PREFIX.json when asked.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aeviz.core import files
from aeviz.cli.main import checked_dir, output_file, print_json, seed, writing
from aeviz.core.errors import ConfigError
from aeviz.metrics.report import is_report_json, is_report_markdown


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dirs", nargs="+", type=checked_dir, help="checkpoint folders to compare")
    p.add_argument("--dataset", help="dataset (default: the one the first model was trained on)")
    p.add_argument("--data-dir", type=checked_dir, help="folder with <dataset>/<files> (default: $AEVIZ_DATA_DIR, cache)")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--out", type=checked_dir, help="write PREFIX.md and PREFIX.json")
    p.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    p.add_argument("--iwae-k", type=int, default=None, help="importance samples for VAE NLLs (e.g. 5000)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--no-pca", action="store_true", help="leave out the PCA baseline")
    p.add_argument("--quick", action="store_true",
                   help="only reconstruction, ELBO/KL and active units (seconds; no kNN, judge or IWAE)")


def run(args) -> int:
    from aeviz.models.checkpoint import load_checkpoint
    from aeviz.data.registry import load_dataset
    from aeviz.metrics.evaluation import evaluate
    from aeviz.metrics.report import compare_json, compare_markdown
    from aeviz.training.loop import pca_baseline
    if args.iwae_k is not None and not 1 <= args.iwae_k <= 100_000:
        raise ConfigError(f"--iwae-k must be in 1..100000, got {args.iwae_k}")
    out = _check_prefix(args.out) if args.out else None
    ckpts = [load_checkpoint(d) for d in args.dirs]
    name = args.dataset or ckpts[0].dataset_name or "digits"
    data = load_dataset(name, args.data_dir)
    names, paths, rows = [], [], []
    for ckpt in ckpts:
        _log(f"evaluating {ckpt.path} on {name} ...")
        rows.append(evaluate(ckpt, data, split=args.split, iwae_k=args.iwae_k, seed=args.seed,
                             quick=args.quick))
        names.append(_unique(ckpt.path.name, names))
        paths.append(str(ckpt.path))
    if not args.no_pca:
        for dim in sorted({c.config.latent_dim for c in ckpts}):
            _log(f"fitting the PCA baseline with {dim} components ...")
            rows.append(evaluate(pca_baseline(data, dim), data, split=args.split, seed=args.seed,
                                 quick=args.quick))
            names.append(_unique(f"pca-{dim}", names))
            paths.append("")
    command = getattr(args, "command_line", "")
    report = compare_json(names, paths, rows, dataset=name, split=args.split, command=command)
    markdown = compare_markdown(names, rows, dataset=name, split=args.split, command=command)
    if out is not None:
        md, js = _outputs(out)
        with writing(md):
            files.write_bytes_atomic(md, markdown.encode("utf-8"))
        with writing(js):
            files.write_json_atomic(js, report)
        _log(f"wrote {md} and {js}")
    if args.json:
        print_json(report)
    else:
        print(markdown, end="")
    return 0


def _check_prefix(text) -> Path:
    """PREFIX must sit in an existing folder; a trailing .md/.json is dropped. PREFIX.md and
    PREFIX.json may only replace reports aeviz wrote."""
    prefix = Path(text)
    if prefix.suffix in (".md", ".json"):
        prefix = prefix.with_suffix("")
    if not prefix.name or not prefix.parent.is_dir():
        raise ConfigError(f"--out {str(text)!r}: the folder {prefix.parent} does not exist; create it "
                          "or pick another prefix (files PREFIX.md and PREFIX.json are written)")
    md, js = _outputs(prefix)
    output_file(md, "--out", is_report_markdown, "a comparison report")
    output_file(js, "--out", is_report_json, "a comparison report")
    return prefix


def _outputs(prefix: Path) -> tuple[Path, Path]:
    return prefix.with_name(prefix.name + ".md"), prefix.with_name(prefix.name + ".json")


def _unique(name: str, taken: list[str]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}-{i}", i + 1
    return candidate


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
