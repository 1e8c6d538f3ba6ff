"""Training networks: the one loop, its checkpoints and distributed training.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
