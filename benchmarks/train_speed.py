"""Training throughput: aeviz's in-memory loop vs a plain DataLoader loop.

Same model, batch size, optimiser and data, in one process; prints samples/s
of each and the ratio (target >= 1.3x on MNIST-sized data).

    python benchmarks/train_speed.py [--n 60000] [--epochs 2] [--family vae]

Uses real MNIST when AEVIZ_DATA_DIR holds it, else random data of the same
shape (throughput does not depend on pixel values).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))     # run from a checkout

from aeviz.models.config import ModelConfig, TrainConfig
from aeviz.training.loop import seeded_model, train


def mnist_like(n: int) -> np.ndarray:
    try:
        from aeviz.data.registry import load_dataset
        x = load_dataset("mnist", download=False).x_train
        return np.array(x[:n])                   # a writable copy of the shared read-only cache
    except Exception as e:  # benchmark only: any failure falls back to synthetic data
        print(f"(real MNIST unavailable: {e}; using random 28x28 data)")
        return np.random.default_rng(0).random((n, 1, 28, 28), dtype=np.float32)


def dataloader_loop(config: ModelConfig, cfg: TrainConfig, x: np.ndarray) -> float:
    """The textbook loop: TensorDataset + shuffling DataLoader, per-sample collation."""
    model = seeded_model(config, cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = DataLoader(TensorDataset(torch.from_numpy(x)), batch_size=cfg.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    g = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    model.train()
    for _ in range(cfg.epochs):
        for (xb,) in loader:
            out = model(xb, generator=g)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
    return time.perf_counter() - start


def ours(config: ModelConfig, cfg: TrainConfig, x: np.ndarray) -> float:
    return train(config, cfg, x, device="cpu").seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=60000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--family", default="vae")
    p.add_argument("--hidden", default="256,128")
    p.add_argument("--repeats", type=int, default=2, help="alternating runs of each; the best is kept")
    args = p.parse_args()
    x = mnist_like(args.n)
    config = ModelConfig(family=args.family, input_shape=(1, 28, 28), latent_dim=16,
                         hidden=tuple(int(h) for h in args.hidden.split(",")))
    cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=0)
    samples = len(x) * args.epochs
    base, mine = [], []
    for _ in range(args.repeats):                # alternate so drift hits both equally
        base.append(dataloader_loop(config, cfg, x))
        mine.append(ours(config, cfg, x))
    b, m = samples / min(base), samples / min(mine)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(x)} x {x.shape[1:]}, "
          f"{args.family} {args.hidden}, batch {args.batch_size}, {args.epochs} epochs")
    print("| loop | samples/s |\n|---|---|")
    print(f"| DataLoader(TensorDataset, shuffle=True) | {b:,.0f} |")
    print(f"| aeviz.training.loop (in-memory batches) | {m:,.0f} |")
    print(f"ratio aeviz / DataLoader: {m / b:.2f}x (target >= 1.3x)")


if __name__ == "__main__":
    main()
