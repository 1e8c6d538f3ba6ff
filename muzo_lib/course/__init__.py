"""The course: its defaults, training per notebook, experiments, the runner and the seed-style API.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
