"""Metrics: reconstruction, likelihood, codes, generated samples, the judge, reports."""
