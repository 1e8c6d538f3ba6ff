"""Datasets: scanning a folder into a manifest, leakage-safe splits, run folders and the procedural
generator.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
