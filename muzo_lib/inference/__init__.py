"""Using trained models: predictors, ONNX, export, streaming and the ensemble.

Empty on purpose: importing one module of this package imports nothing else of it, so the torch-free
path stays torch-free."""
