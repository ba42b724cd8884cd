"""``python -m aeviz``: datasets, train, eval, project, compare, zoo.

Sub-commands register themselves in COMMANDS; each module keeps its own
``add_arguments(parser)`` and ``run(args) -> int``. Every AevizError becomes
one clear line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import shlex
import sys
from pathlib import Path

from aeviz.core import files
from aeviz.core.errors import AevizError, ConfigError

# name -> (module, help); modules are imported lazily so `--help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("aeviz.cli.train", "list datasets and whether each is available here"),
    "train": ("aeviz.cli.train", "train a model (or fit PCA) and save a checkpoint folder"),
    "eval": ("aeviz.cli.train", "evaluate a checkpoint on a dataset split"),
    "project": ("aeviz.cli.project", "map a checkpoint's latent codes to 2-D (umap/tsne/pca/latent)"),
    "compare": ("aeviz.cli.compare", "compare several checkpoints on one dataset (Markdown + JSON)"),
    "zoo": ("aeviz.cli.zoo", "build or check the pretrained models in pretrained/"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m aeviz", description="aeviz: train, evaluate and map autoencoders and VAEs.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name)
        adder = getattr(module, f"add_{name}_arguments", None) or module.add_arguments
        adder(p)
        p.set_defaults(_run=getattr(module, f"run_{name}", None) or module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.command_line = "python -m aeviz " + shlex.join(argv)
    try:
        return int(args._run(args) or 0)
    except AevizError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def parse_ints(text: str) -> tuple[int, ...]:
    """'256,128' -> (256, 128), for argparse ``type=``."""
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 256,128, got {text!r}")
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def print_json(data) -> None:
    print(files.json_dumps(data, indent=None, sort_keys=True))


def checked_dir(text: str) -> Path:
    path = Path(text)
    if "\x00" in text:
        raise ConfigError("paths may not contain NUL bytes")
    return path


def checkpoint_with_data(args):
    """(checkpoint, dataset) for ``args.dir``: ``--dataset`` or the one it was trained on."""
    from aeviz.models.checkpoint import load_checkpoint
    from aeviz.data.registry import load_dataset
    ckpt = load_checkpoint(args.dir)
    name = args.dataset or ckpt.dataset_name or "digits"
    data = load_dataset(name, args.data_dir)
    if tuple(data.sample_shape) != tuple(ckpt.config.input_shape):
        raise ConfigError(f"{name} samples have shape {data.sample_shape} but the model expects "
                          f"{ckpt.config.input_shape}; pick the dataset the model was trained on")
    return ckpt, data
