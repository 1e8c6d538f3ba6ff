"""muzo_lib: the thin library behind the Muzo course notebooks and the ``muzo`` command.

Imports flow one way: audio/datasets -> spectrogram/cache -> features/models ->
training -> classifiers -> notebooks and CLI.
"""
from .audio import AUDIO_EXTENSIONS, AudioDecodeError, audio_info, fix_length, load_audio, segment_signal
from .cache import LogMelCache, file_identity
from .datasets import (DatasetError, SplitInfo, gtzan_artist_groups, gtzan_fault_filtered_split, layout_tree,
                       leakage_report, make_split, scan_dataset, skipped_report, usable_tracks)
from .evaluation import classification_metrics, track_probabilities
from .features import (EXTRA_FEATURE_NAMES, GTZAN_FEATURE_NAMES, AudioFeatureExtractor, FeatureError,
                       extract_dataset, median_filter_1d, naive_gtzan_features, run_features)
from .forest import FeatureMismatchError, ModelFormatError, MusicGenreClassifier
from .augment import AugmentConfig
from .checkpoints import CheckpointError, load_checkpoint, save_checkpoint
from .classifiers import CNNMusicClassifier, train_cnn_music_model, train_on_run
from .models import AttentionPooling, CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN, build_model, count_parameters
from .training import TrackSet, TrainConfig, TrainResult, evaluate, fit, seed_everything
from .paths import atomic_write, atomic_write_json, atomic_write_text, project_root, resolve_path
from .runs import DEFAULT_RUN_DIR, RunData, dataset_dir, load_metrics, prepare_run, save_metrics
from .synth import DEFAULT_DATASET_DIR, GENRES, Style, ensure_generated_dataset, generate_dataset, render_track
from .spectrogram import LogMelSpectrogram, MelConfig, librosa_logmel, power_to_db

__version__ = "0.1.0"
