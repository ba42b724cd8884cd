"""Training: the loop, image augmentation, background jobs."""
