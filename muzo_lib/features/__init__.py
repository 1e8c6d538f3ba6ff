"""What the models see: the log-mel front ends (torch and numpy), hand-made descriptors, augmentation
and the per-track cache.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
