"""Old home of the Random Forest model: model files saved before muzo_lib's subpackages name this module
(skops records a class's module), so it re-exports the class from :mod:`muzo_lib.models.forest`."""
from muzo_lib.models.forest import MusicGenreClassifier  # noqa: F401
