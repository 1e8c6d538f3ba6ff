"""Input and output: paths, audio decoding, progress, timing, logging, safe model files.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
