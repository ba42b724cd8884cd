"""Models: the frozen configs, shared backbones, the family registry and checkpoint folders."""
