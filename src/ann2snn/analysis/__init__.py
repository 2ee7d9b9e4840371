"""Metrics and diagnostics: operation counts, accuracy over time, correlations."""
