"""The seed document's module name: ``from src.cnn_model_training import ...`` becomes
``from muzo_lib.cnn_model_training import ...``. Everything lives in :mod:`muzo_lib.classifiers`
and :mod:`muzo_lib.models`; this module only keeps the seed's examples running as written."""
from .classifiers import CNNMusicClassifier, train_cnn_music_model
from .models import HybridCNNRNN, SpectrogramCNN

__all__ = ["CNNMusicClassifier", "train_cnn_music_model", "SpectrogramCNN", "HybridCNNRNN"]
