"""Foundations every layer uses: errors, limits, paths, and safe file helpers."""
