"""2-D maps of latent codes: projections, their inverse, the on-disk store and map quality."""
