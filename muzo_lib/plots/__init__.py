"""The figures the notebooks show, one module per subject. Every function draws a new figure
(or on a given ``ax``) and returns the matplotlib Figure, so a notebook shows it and a run
can save it; notebooks write ``from muzo_lib import plots`` and call ``plots.plot_x(...)``.

- :mod:`.audio`: waveforms, tracks per genre, durations;
- :mod:`.spectrograms`: one log-mel (:func:`show_logmel`), the STFT -> mel -> dB steps, the
  mel filter bank, the effect of each setting; time in s, frequency in Hz, a dB colour bar;
- :mod:`.features`: hand-made features per genre, their correlations, their importance;
- :mod:`.training`: learning curves of one run or several, the learning rate, train/valid
  gap against a knob, misclassified tracks, the head comparison;
- :mod:`.evaluation`: confusion matrix, model and split comparisons, per-file probabilities;
- :mod:`.timeline`: genre over time, a live stream's updates, where the attention looks.
"""
from __future__ import annotations

from .audio import distinct_colors, plot_class_balance, plot_durations, plot_waveforms
from .evaluation import (
    plot_accuracies,
    plot_confusion_matrix,
    plot_hierarchical_confusion,
    plot_model_comparison,
    plot_probability_bars,
    plot_split_comparison,
)
from .features import plot_embedding_maps, plot_feature_correlations, plot_feature_distributions, plot_feature_importance
from .spectrograms import plot_augmented_crops, plot_logmels, plot_mel_filterbank, plot_setting_variations, plot_stft_to_logmel, show_logmel
from .timeline import plot_attention, plot_genre_over_time, plot_stream, plot_taggram
from .training import (
    misclassified,
    plot_gap,
    plot_head_comparison,
    plot_learning_curves,
    plot_learning_rate,
    plot_misclassified,
)

__all__ = ["distinct_colors", "misclassified", "plot_accuracies", "plot_augmented_crops", "plot_attention", "plot_class_balance",
           "plot_confusion_matrix", "plot_durations", "plot_embedding_maps", "plot_feature_correlations",
           "plot_feature_distributions", "plot_feature_importance", "plot_gap", "plot_genre_over_time", "plot_hierarchical_confusion",
           "plot_head_comparison", "plot_learning_curves", "plot_learning_rate", "plot_logmels",
           "plot_mel_filterbank", "plot_misclassified", "plot_model_comparison", "plot_probability_bars",
           "plot_setting_variations", "plot_split_comparison", "plot_stft_to_logmel", "plot_stream",
           "plot_taggram", "plot_waveforms", "show_logmel"]
