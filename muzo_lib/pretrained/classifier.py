"""Old home of the embedding classifier: model files saved before muzo_lib's subpackages name this module
(skops records a class's module), so it re-exports the class from :mod:`muzo_lib.models.pretrained.classifier`."""
from muzo_lib.models.pretrained.classifier import EmbeddingClassifier  # noqa: F401
