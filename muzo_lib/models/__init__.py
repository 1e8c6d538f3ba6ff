"""The models: networks, the two-level heads and class tree, the Random Forest, musicnn, the registry
of model kinds, and where a network runs.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
