"""Scores with their intervals: metrics, confusion, cross-validation results.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
