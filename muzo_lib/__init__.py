"""muzo_lib: the thin library behind the Muzo course notebooks and the ``muzo`` command.

Imports flow one way: audio/datasets/splits -> spectrogram/cache -> features/models ->
training -> prediction/ensemble -> course_models -> classifiers -> notebooks and CLI.

Every public name below is importable from ``muzo_lib`` directly. Modules load on first
use (PEP 562), so ``muzo predict`` does not pay for scikit-learn or librosa when it
needs neither.
"""
from __future__ import annotations

from .lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "audio": ["AUDIO_EXTENSIONS", "AudioDecodeError", "audio_info", "fix_length", "load_audio", "segment_signal"],
    "augment": ["AugmentConfig"],
    "cache": ["LogMelCache", "TrackCache", "file_identity"],
    "checkpoints": ["CheckpointError", "load_checkpoint", "save_checkpoint"],
    "classifiers": ["CNNMusicClassifier", "train_cnn_music_model"],
    "course_models": ["COURSE_FOREST", "COURSE_MODELS", "course_train_config", "ensure_course_model", "member_probabilities",
                      "leaf_run", "network_summary", "train_member", "train_on_run"],
    "datasets": ["DatasetError", "gtzan_artist_groups", "gtzan_fault_filtered_split", "layout_tree",
                 "manifest_from_files", "scan_dataset", "skipped_report", "usable_tracks"],
    "devices": ["autocast_dtype", "cpu_has_native_bf16", "precision_name", "resolve_device"],
    "ensemble": ["FUSION_METHODS", "ProbabilityFusion", "align_probabilities", "ensemble_predict", "fit_fusions"],
    "evaluation": ["classification_metrics", "compare_models", "track_probabilities"],
    "export": ["export_onnx"],
    "features": ["EXTRA_FEATURE_NAMES", "GTZAN_FEATURE_NAMES", "AudioFeatureExtractor", "FeatureError",
                 "extract_dataset", "feature_columns", "median_filter_1d", "naive_gtzan_features", "run_features"],
    "forest": ["FeatureMismatchError", "ModelFormatError", "MusicGenreClassifier"],
    "hierarchy": ["DECODERS", "DEFAULT_DECODER", "ClassTree", "LayoutProblem", "TwoLevelLoss", "check_layout", "decide",
                  "hierarchical_scores", "layout_problems", "subgenre_confusion"],
    "model_kinds": ["KINDS", "ModelKind", "kind_of_file", "model_kind", "register_kind"],
    "models": ["AttentionPooling", "CNNConfig", "HybridCNNRNN", "HybridConfig", "SpectrogramCNN", "build_model",
               "count_parameters"],
    "numpy_frontend": ["NumpyLogMel", "mel_filter_bank"],
    "onnx_predictor": ["OnnxModelError", "OnnxPredictor", "load_onnx_model"],
    "paths": ["atomic_write", "atomic_write_json", "atomic_write_text", "project_path", "project_root"],
    "prediction": ["GenrePredictor", "ModelLoadError", "expand_inputs", "genre_over_time", "load_model",
                   "predict_files", "results_table"],
    "prediction_result": ["Prediction"],
    "predictor": ["Predictor", "PredictorBase"],
    "runs": ["DEFAULT_RUN_DIR", "RunData", "dataset_dir", "load_metrics", "prepare_run", "run_from_files",
             "save_cv_metrics", "save_metrics"],
    "splits": ["SplitInfo", "leakage_report", "make_split", "random_track_split"],
    "spectrogram": ["LogMelSpectrogram", "MelConfig", "librosa_logmel", "power_to_db"],
    "streaming": ["StreamSourceError", "StreamingClassifier", "switch_delays", "updates_frame"],
    "synth": ["DEFAULT_DATASET_DIR", "GENRES", "Style", "ensure_generated_dataset", "generate_dataset", "render_track"],
    "timing": ["measure_latency"],
    "training": ["TrackSet", "TrainConfig", "TrainResult", "evaluate", "fit", "seed_everything"],
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
