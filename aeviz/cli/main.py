"""``python -m aeviz``: datasets, train, eval, project, compare, zoo.

Sub-commands register themselves in COMMANDS; each module keeps its own
``add_arguments(parser)`` and ``run(args) -> int``. Every AevizError becomes
one clear line on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import shlex
import sys
import warnings
from pathlib import Path

from aeviz.core import files, limits, owned
from aeviz.core.errors import AevizError, ConfigError
from aeviz.core.paths import checked_path

# name -> (module, help); modules are imported lazily so `--help` stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "datasets": ("aeviz.cli.train", "list datasets and whether each is available here"),
    "train": ("aeviz.cli.train", "train a model (or fit PCA) and save a checkpoint folder"),
    "eval": ("aeviz.cli.train", "evaluate a checkpoint on a dataset split"),
    "project": ("aeviz.cli.project", "map a checkpoint's latent codes to 2-D (umap/tsne/pca/latent)"),
    "compare": ("aeviz.cli.compare", "compare several checkpoints on one dataset (Markdown + JSON)"),
    "zoo": ("aeviz.cli.zoo", "build or check the pretrained models in pretrained/"),
}


class Parser(argparse.ArgumentParser):
    """argparse with aeviz's one-line errors (``error: ...``, exit 2) for bad flags too."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:         # --help (0) or a bad flag (2, its one error: line printed)
        return int(e.code or 0)
    args.command_line = "python -m aeviz " + shlex.join(argv)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _note          # aeviz's notices as one "note:" line each
            return int(args._run(args) or 0)
    except AevizError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:        # a fault no boundary foresaw (a disk that vanished): still one line
        where = f" {e.filename}" if e.filename else ""
        print(f"error: cannot access{where} ({e.strerror or e}); check the path, free space and "
              "permissions, then run the command again", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _note(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (e.g. models.folder.Recovered) as one line on stderr, not Python's two-line form."""
    print(f"note: {message}", file=sys.stderr)


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
    """argparse ``type=`` for every path flag: the one path check (aeviz.core.paths)."""
    try:
        return checked_path(text, "the path")
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def seed(text: str) -> int:
    """argparse ``type=`` for every --seed: an integer in 0..SEED_MAX (numpy's range)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number, got {text!r}") from None
    if not 0 <= value <= limits.SEED_MAX:
        raise argparse.ArgumentTypeError(f"a seed must be in 0..{limits.SEED_MAX}, got {value}")
    return value


def output_file(path: Path, flag: str, is_ours, what: str) -> Path:
    """An output file may be new, or a regular file in aeviz's own format (``is_ours``).

    Anything else (a folder, a link, the user's own file) is refused before any work.
    """
    path = checked_path(path, flag)
    if not os.path.lexists(path):
        return path
    if path.is_symlink() or not path.is_file():
        raise ConfigError(f"{flag} {path} exists and is not a file aeviz wrote (a folder, link or "
                          "special file); choose another path")
    if not is_ours(path):
        raise owned.NotOurs(f"{flag} {path} exists and is not {what} written by aeviz, so it is not "
                            "replaced; choose another path or move the file away")
    return path


@contextlib.contextmanager
def writing(path: Path):
    """Turn an OSError while writing ``path`` into one clear error (disk full, read-only)."""
    try:
        yield
    except OSError as e:
        raise ConfigError(f"cannot write {path} ({e.strerror or e}): the disk may be full or the "
                          "folder read-only; free some space or choose another path. Nothing that "
                          "was there before was changed.") from None


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
