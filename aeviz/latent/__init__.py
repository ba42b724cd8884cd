"""Latent space without a model: neighbours, paths, arithmetic and distance to the data."""
