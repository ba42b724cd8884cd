"""``python -m aeviz zoo build [NAME ...] | list | check [NAME ...] | maps [NAME ...]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aeviz.cli.main import checked_dir, print_json
from aeviz.core.errors import ConfigError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=tuple(ACTIONS),
                   help="build: train and save recipes; list: recipes and what is shipped; "
                        "check: re-evaluate shipped models against their recorded metrics; "
                        "maps: recompute the 2-D maps of shipped models; eval: rewrite their "
                        "recorded metrics after a change to the metrics")
    p.add_argument("names", nargs="*", help="zoo names (default: all; build: the digits models)")
    p.add_argument("--data-dir", type=checked_dir, help="folder with <dataset>/<files> (default: $AEVIZ_DATA_DIR, cache)")
    p.add_argument("--root", type=checked_dir, default=None, help="pretrained folder (default: the repository's pretrained/)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    p.add_argument("--full", action="store_true", help="check: also kNN and sample metrics (slower)")
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args) -> int:
    import torch
    from aeviz.zoo import recipes as zoo
    if args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    root = Path(args.root) if args.root else zoo.PRETRAINED_DIR
    if args.action == "build":
        for name in args.names:
            zoo.get_entry(name)              # unknown names fail before any training starts
    return ACTIONS[args.action](args, root)


def _build(args, root: Path) -> int:
    from aeviz.zoo import recipes as zoo
    names = args.names or [n for n, e in zoo.ZOO.items() if e.dataset == "digits"]
    for name in names:
        zoo.build(name, data_dir=args.data_dir, root=root, log=_log)
    return 0


def _list(args, root: Path) -> int:
    from aeviz.zoo import recipes as zoo
    shipped = set(zoo.shipped_names(root))
    rows = [{"name": e.name, "dataset": e.dataset, "family": e.model.family,
             "latent_dim": e.model.latent_dim, "epochs": e.epochs, "shipped": e.name in shipped,
             "anchor": e.anchor} for e in zoo.ZOO.values()]
    if args.json:
        print_json(rows)
        return 0
    for r in rows:
        mark = "shipped" if r["shipped"] else "-"
        print(f"{r['name']:<22} {r['dataset']:<14} {r['family']:<4} {r['latent_dim']:>3}-D "
              f"{r['epochs']:>4} epochs  {mark:<8} {r['anchor']}")
    return 0


def _check(args, root: Path) -> int:
    from aeviz.zoo import recipes as zoo
    names = args.names or zoo.shipped_names(root)
    if not names:
        raise ConfigError(f"no shipped models under {root}; run `python -m aeviz zoo build` first")
    results = [zoo.check(n, data_dir=args.data_dir, root=root, full=args.full) for n in names]
    if args.json:
        print_json(results)
    else:
        for r in results:
            print(f"{r['name']:<22} {r['status']}" + (f" ({r['why']})" if r.get("why") else ""))
            for key, was, got, ok in r["rows"]:
                print(f"    {key:<18} recorded {_cell(was):<12} now {_cell(got):<12} "
                      f"{'ok' if ok else 'CHANGED'}")
    return 0 if all(r["status"] != "failed" for r in results) else 1


def _maps(args, root: Path) -> int:
    from aeviz.zoo import recipes as zoo
    for name in args.names or zoo.shipped_names(root):
        zoo.refresh_maps(name, data_dir=args.data_dir, root=root, log=_log)
    return 0


def _eval(args, root: Path) -> int:
    from aeviz.zoo import recipes as zoo
    for name in args.names or zoo.shipped_names(root):
        zoo.refresh_metrics(name, data_dir=args.data_dir, root=root, log=_log)
    return 0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


ACTIONS = {"build": _build, "list": _list, "check": _check, "maps": _maps, "eval": _eval}


def _cell(value) -> str:
    """A recorded value as stored: a number, or what a damaged metrics.json holds (null, text)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.5g}"
    return repr(value)[:12]
