"""The seed document's module name: ``from src.cnn_model_training import ...`` becomes
``from muzo_lib.cnn_model_training import ...``. Everything lives in :mod:`muzo_lib.course.classifiers`
and :mod:`muzo_lib.models.networks`; this module only keeps the seed's examples running as written."""
from muzo_lib.course.classifiers import CNNMusicClassifier, train_cnn_music_model
from muzo_lib.models.networks import HybridCNNRNN, SpectrogramCNN

__all__ = ["CNNMusicClassifier", "train_cnn_music_model", "SpectrogramCNN", "HybridCNNRNN"]
