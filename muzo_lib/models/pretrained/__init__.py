"""Pretrained networks: musicnn in PyTorch, its embeddings, and classifiers trained on them.

Imports flow one way: tf_checkpoint -> musicnn -> embeddings -> classifier; musicnn -> finetune. Notebook 05's
hand-made-feature baselines are in :mod:`muzo_lib.course.transfer_experiments`.
The names below load their module on first use (as in :mod:`muzo_lib`).

Example:
    >>> from muzo_lib.models.pretrained import embed, train_embedding_model
    >>> embed(load_audio("song.wav", 16000))["track_tags"]
    >>> train_embedding_model(prepare_run("data/gtzan"))["metrics"]["accuracy"]
"""
from __future__ import annotations

from muzo_lib.io.lazy import lazy_exports

_EXPORTS = {
    "tf_checkpoint": ["CheckpointFormatError", "read_checkpoint"],
    "musicnn": ["MSD_LABELS", "MTT_LABELS", "FoldedMusicnn", "Musicnn", "MusicnnError", "check_variant", "load_musicnn"],
    "finetune": ["FinetuneConfig", "MusicnnClassifier"],
    "embeddings": ["EmbeddingCache", "EmbeddingConfig", "Embedder", "embed", "run_embeddings", "track_features"],
    "classifier": ["EmbeddingClassifier", "EmbeddingModelError", "EmbeddingPredictor", "cross_validate",
                   "cross_validate_embeddings", "cv_folds", "is_embedding_model", "run_features", "track_scores",
                   "train_embedding_model"],
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
