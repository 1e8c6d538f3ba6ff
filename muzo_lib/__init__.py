"""muzo_lib: the thin library behind the Muzo course notebooks and the ``muzo`` command.

Its subpackages are its layers, imports flowing one way: io -> features -> data -> evaluation ->
models -> training -> inference -> plots -> course -> cli (``tests/test_layers.py`` checks it).

Every public name below is importable from ``muzo_lib`` directly. Modules load on first
use (PEP 562), so ``muzo predict`` does not pay for scikit-learn or librosa when it
needs neither.
"""
from __future__ import annotations

from muzo_lib.io.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "io.audio": ["AUDIO_EXTENSIONS", "AudioDecodeError", "audio_info", "fix_length", "load_audio", "segment_signal"],
    "features.augment": ["AugmentConfig"],
    "features.cache": ["LogMelCache", "TrackCache", "file_identity"],
    "training.checkpoints": ["CheckpointError", "load_checkpoint", "save_checkpoint"],
    "course.classifiers": ["CNNMusicClassifier", "train_cnn_music_model"],
    "course.members": ["COURSE_FOREST", "COURSE_MODELS", "course_train_config", "ensure_course_model", "member_probabilities",
                      "leaf_run", "network_summary", "train_member", "train_on_run"],
    "data.datasets": ["DatasetError", "gtzan_artist_groups", "gtzan_fault_filtered_split", "layout_tree",
                 "manifest_from_files", "scan_dataset", "skipped_report", "usable_tracks"],
    "models.devices": ["autocast_dtype", "cpu_has_native_bf16", "precision_name", "resolve_device"],
    "inference.ensemble": ["FUSION_METHODS", "ProbabilityFusion", "align_probabilities", "ensemble_predict", "fit_fusions"],
    "evaluation.metrics": ["classification_metrics", "compare_models", "track_probabilities"],
    "inference.export": ["export_onnx"],
    "features.handmade": ["EXTRA_FEATURE_NAMES", "GTZAN_FEATURE_NAMES", "AudioFeatureExtractor", "FeatureError",
                 "extract_dataset", "feature_columns", "median_filter_1d", "naive_gtzan_features", "run_features"],
    "models.forest": ["FeatureMismatchError", "ModelFormatError", "MusicGenreClassifier"],
    "models.hierarchy": ["DECODERS", "DEFAULT_DECODER", "ClassTree", "LayoutProblem", "TwoLevelLoss", "check_layout", "decide",
                  "hierarchical_scores", "layout_problems", "subgenre_confusion"],
    "models.kinds": ["KINDS", "ModelKind", "kind_of_file", "model_kind", "register_kind"],
    "models.networks": ["AttentionPooling", "CNNConfig", "HybridCNNRNN", "HybridConfig", "SpectrogramCNN", "build_model",
               "count_parameters"],
    "features.numpy_frontend": ["NumpyLogMel", "mel_filter_bank"],
    "inference.onnx_predictor": ["OnnxModelError", "OnnxPredictor", "load_onnx_model"],
    "io.paths": ["atomic_write", "atomic_write_json", "atomic_write_text", "project_path", "project_root"],
    "inference.prediction": ["GenrePredictor", "ModelLoadError", "expand_inputs", "genre_over_time", "load_model",
                   "predict_files", "results_table"],
    "models.result": ["Prediction"],
    "models.predictor": ["Predictor", "PredictorBase"],
    "data.runs": ["DEFAULT_RUN_DIR", "RunData", "dataset_dir", "load_metrics", "prepare_run", "run_from_files",
             "save_cv_metrics", "save_metrics"],
    "data.splits": ["SplitInfo", "leakage_report", "make_split", "random_track_split"],
    "features.spectrogram": ["LogMelSpectrogram", "MelConfig", "librosa_logmel", "power_to_db"],
    "inference.streaming": ["StreamSourceError", "StreamingClassifier", "switch_delays", "updates_frame"],
    "data.synth": ["DEFAULT_DATASET_DIR", "GENRES", "Style", "ensure_generated_dataset", "generate_dataset", "render_track"],
    "io.timing": ["measure_latency"],
    "training.loop": ["TrackSet", "TrainConfig", "TrainResult", "evaluate", "fit", "seed_everything"],
}
__all__, __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
