"""CLI commands ``datasets``, ``train`` and ``eval``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aeviz.cli.main import checked_dir, parse_ints, print_json, seed
from aeviz.core import owned
from aeviz.core.paths import checked_path
from aeviz.models import folder
from aeviz.models.checkpoint import Checkpoint
from aeviz.models.config import (AUGMENTS, BACKBONES, DEFAULT_HIDDEN, LIKELIHOODS, LR_SCHEDULES,
                                 MODEL_CHOICES, ModelConfig, TrainConfig)
from aeviz.models.families import MODELS, family_fields
from aeviz.models.priors import PRIORS
from aeviz.core.errors import ConfigError

# options of the flags for fields some family reads (MODELS[f].uses); a field not named here,
# e.g. a new family's coefficient, still gets a flag --name of its type and default
FIELD_FLAGS = {"beta": dict(help="KL weight of a (beta-)VAE"),
               "noise": dict(help="corruption of a denoising AE"),
               "sparsity": dict(help="L1 weight of a sparse AE"),
               "prior": dict(help="the prior an adversarial AE matches its codes to: "
                             + "; ".join(f"{k}, {cls.help}" for k, cls in PRIORS.items())),
               "prior_components": dict(help="components of the mixture prior"),
               "prior_by_label": dict(help="each class to its own mixture component (labelled data)")}


def add_datasets_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=checked_dir, help="folder with <dataset>/<files> (default: $AEVIZ_DATA_DIR, cache)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run_datasets(args) -> int:
    from aeviz.data.registry import list_datasets
    rows = list_datasets(args.data_dir)
    if args.json:
        print_json(rows)
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        mark = "yes" if r["available"] else "no "
        print(f"{r['name']:<{width}}  {mark}  {r['where']:<40}  {r['description']}")
    return 0


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    d, t = ModelConfig(), TrainConfig()
    p.add_argument("--dataset", default="digits", help="dataset name (see `python -m aeviz datasets`)")
    p.add_argument("--data-dir", type=checked_dir, help="folder with <dataset>/<files>")
    p.add_argument("--family", default=d.family, choices=tuple(MODELS),
                   help="model family: " + "; ".join(f"{k}, {cls.help}" for k, cls in MODELS.items()))
    p.add_argument("--backbone", default=d.backbone, choices=BACKBONES)
    p.add_argument("--latent-dim", type=int, default=d.latent_dim)
    p.add_argument("--hidden", type=parse_ints, default=None,
                   help="comma-separated widths (mlp) or channels (conv); default 256,128 / 32,64; "
                        "the linear backbone has none")
    p.add_argument("--likelihood", default=d.likelihood, choices=LIKELIHOODS)
    for name in family_fields():
        users = ", ".join(k for k, cls in MODELS.items() if name in cls.uses)
        value = getattr(d, name)
        kind = dict(action="store_true") if isinstance(value, bool) else \
            dict(type=type(value), default=value, choices=MODEL_CHOICES.get(name))
        p.add_argument("--" + name.replace("_", "-"), **kind,
                       **{"help": f"used by {users}", **FIELD_FLAGS.get(name, {})})
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--seed", type=seed, default=t.seed)
    p.add_argument("--kl-warmup", type=int, default=t.kl_warmup_epochs, help="epochs of KL warm-up")
    p.add_argument("--binarize", action="store_true", help="dynamic binarization of inputs")
    p.add_argument("--grad-clip", type=float, default=t.grad_clip)
    p.add_argument("--weight-decay", type=float, default=t.weight_decay)
    p.add_argument("--lr-schedule", default=t.lr_schedule, choices=LR_SCHEDULES,
                   help="constant rate, or cosine decay to 0 over the run")
    p.add_argument("--augment", default=t.augment, choices=AUGMENTS,
                   help="random warps of training images (images only)")
    p.add_argument("--augment-strength", type=float, default=t.augment_strength,
                   help="1 = rotations up to 8 degrees, shifts and warps of 1/28 of the side")
    p.add_argument("--timeline", action="store_true",
                   help="record the codes of 2,000 test images at 24 epochs and the weights at 3, "
                        "for the app's Timeline page (a few MB in the checkpoint)")
    p.add_argument("--half", action="store_true", help="store weights as float16")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--out", required=True, type=checked_dir, help="checkpoint folder to write")
    p.add_argument("--force", action="store_true", help="replace an existing checkpoint at --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def configs_from_args(args, sample_shape: tuple[int, ...]) -> tuple[ModelConfig, TrainConfig]:
    hidden = args.hidden or DEFAULT_HIDDEN[args.backbone]
    model = ModelConfig(family=args.family, backbone=args.backbone, input_shape=tuple(sample_shape),
                        latent_dim=args.latent_dim, hidden=hidden, likelihood=args.likelihood,
                        **{name: getattr(args, name) for name in family_fields()})
    train_cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                            kl_warmup_epochs=args.kl_warmup, binarize=args.binarize,
                            grad_clip=args.grad_clip, weight_decay=args.weight_decay,
                            lr_schedule=args.lr_schedule, augment=args.augment,
                            augment_strength=args.augment_strength)
    return model, train_cfg


def check_out_dir(out: Path, force: bool) -> None:
    """Never overwrite anything that is not ours, and ours only with --force.

    An interrupted save is put back first (so it is refused without --force,
    never written over); then the folder must be absent, or a checkpoint that
    aeviz provably wrote (folder.check_replaceable: a user's extra file keeps it).
    """
    out = checked_path(out, "--out")
    folder.recover(out)
    if not os.path.lexists(out):
        return
    folder.check_replaceable(out)
    if not force:
        raise ConfigError(f"{out} already holds a checkpoint; pass --force to replace it "
                          "(the old one stays intact until the new one is complete)")


def run_train(args) -> int:
    out = Path(args.out)
    check_out_dir(out, args.force)                  # before the lock: a refusal writes nothing
    with owned.writer_lock(out, "the checkpoint"):  # one `train --out X` at a time, to the save
        check_out_dir(out, args.force)
        return _train_and_save(args, out)


def _train_and_save(args, out: Path) -> int:
    from aeviz.data.registry import load_dataset
    from aeviz.metrics.evaluation import evaluate
    from aeviz.training.loop import train
    from aeviz.training.timeline import save_with_timeline, watch
    data = load_dataset(args.dataset, args.data_dir, progress=_download_bar(args))
    model_cfg, train_cfg = configs_from_args(args, data.sample_shape)
    bar = None if args.no_progress or model_cfg.family_class.closed_form else _epoch_bar(train_cfg.epochs)

    recorder = watch(args.timeline, model_cfg, train_cfg, train_cfg.epochs, data.x_test, data.x_train)

    def on_epoch(epoch: int, row: dict) -> None:
        if recorder is not None:
            recorder.on_epoch(epoch, row)
        if bar is not None:
            bar.set_postfix(train=f"{row['train_loss']:.2f}", test=f"{row.get('test_loss', 0):.2f}")
            bar.update(1)

    try:
        result = train(model_cfg, train_cfg, data.x_train, data.x_test, device=args.device,
                       on_epoch=on_epoch, y_train=data.y_train, model=recorder and recorder.model)
    finally:
        if bar is not None:
            bar.close()
    ckpt = Checkpoint.of(result.model.cpu(), (train_cfg,), data.name, args.command_line, result.history)
    metrics = evaluate(ckpt, data, split="test", quick=True)
    save_with_timeline(out, ckpt.model, recorder and recorder.timeline(), stages=ckpt.stages,
                       dataset_name=data.name, command=args.command_line, history=result.history,
                       metrics=metrics, half=args.half)
    last = result.history[-1] if result.history else {}
    print(f"saved {out} ({result.seconds:.1f} s); test loss {last.get('test_loss', float('nan')):.3f}",
          file=sys.stderr)
    return 0


def _epoch_bar(total: int):
    from tqdm import tqdm
    return tqdm(total=total, unit="epoch", file=sys.stderr, dynamic_ncols=True)


def _download_bar(args):
    if getattr(args, "no_progress", False):
        return None
    state = {}

    def progress(done: int, total: int) -> None:
        from tqdm import tqdm
        bar = state.get("bar")
        if bar is None:
            bar = state["bar"] = tqdm(total=total or None, unit="B", unit_scale=True, file=sys.stderr)
        bar.update(done - bar.n)
        if total and done >= total:
            bar.close()
            state.pop("bar")
    return progress


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=checked_dir, help="checkpoint folder")
    p.add_argument("--dataset", help="dataset (default: the one the model was trained on)")
    p.add_argument("--data-dir", type=checked_dir, help="folder with <dataset>/<files>")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--iwae-k", type=int, default=None, help="importance samples for a VAE's NLL")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--quick", action="store_true",
                   help="only reconstruction, ELBO/KL and active units (seconds; no kNN, judge or IWAE)")
    p.add_argument("--parzen", action="store_true",
                   help="Parzen-window log-likelihood of 10,000 decoded prior draws, bandwidth chosen "
                        "on the last sixth of the train split (the GAN/AAE papers' protocol; a weak measure)")


def run_eval(args) -> int:
    from aeviz.cli.main import checkpoint_with_data
    from aeviz.metrics.evaluation import evaluate
    ckpt, data = checkpoint_with_data(args)
    if args.iwae_k is not None and not 1 <= args.iwae_k <= 100_000:
        raise ConfigError(f"--iwae-k must be in 1..100000, got {args.iwae_k}")
    result = evaluate(ckpt, data, split=args.split, iwae_k=args.iwae_k, seed=args.seed, quick=args.quick,
                      parzen=args.parzen)
    if args.json:
        print_json(result)
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value:.4f}" if isinstance(value, float) else f"{key:>24}: {value}")
    return 0
