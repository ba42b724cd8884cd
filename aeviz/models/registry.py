"""The model-family registry: ``MODELS`` (name -> class) and the ``register`` decorator.

It imports nothing of aeviz.models, so ``config`` can check a family against
it while ``families`` (which imports ``config``) fills it. The package's
``__init__`` imports every family module, and a package runs before any of
its modules, so the registry is complete before any ModelConfig is checked.
"""
from __future__ import annotations

MODELS: dict[str, type] = {}      # registration order: the order the pickers show


def register(name: str):
    """Class decorator: ``MODELS[name] = cls`` and ``cls.family = name``."""
    def add(cls):
        MODELS[name] = cls
        cls.family = name
        return cls
    return add
