"""aeviz: a latent-space lab for autoencoders and VAEs."""

__version__ = "0.1.0"
