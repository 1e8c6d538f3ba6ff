"""The HTTP service of ``muzo serve``: the application, its limits, uploads, and the runner.

Empty on purpose: importing one module of this package imports nothing else of it."""
