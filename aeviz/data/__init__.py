"""Datasets: the registry, the Dataset value, IDX files, downloads, archives and user uploads."""
