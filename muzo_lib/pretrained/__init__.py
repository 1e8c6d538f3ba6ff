"""Old home of the musicnn code (now :mod:`muzo_lib.models.pretrained`), kept for model files saved before the move."""
