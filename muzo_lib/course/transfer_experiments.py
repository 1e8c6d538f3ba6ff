"""Notebook 05's baselines: what one would do without transfer learning.

The embedding classifier is judged against classic hand-made features (:func:`handmade_baseline`,
cross-validated by :func:`muzo_lib.models.pretrained.classifier.cross_validate`) and a network trained
from scratch (:func:`muzo_lib.course.members.cross_validate` with ``folds=``), all on the SAME
folds (:func:`muzo_lib.models.pretrained.classifier.cv_folds`), so each track is predicted once by
each model, by a model that never saw it. Every one returns a :class:`muzo_lib.evaluation.metrics.CVResult`.
"""
from __future__ import annotations

from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from muzo_lib.models.forest import FOREST_TREES


def handmade_baseline(kind: str = "logreg", seed: int = 0):
    """A scikit-learn classifier for hand-made feature tables: ``"logreg"`` (standardise + logistic
    regression, the same head as the embedding classifier) or ``"rf"`` (:data:`~muzo_lib.models.forest.FOREST_TREES` trees)."""
    if kind == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    if kind == "rf":
        return RandomForestClassifier(n_estimators=FOREST_TREES, random_state=seed, n_jobs=-1)
    raise ValueError(f"unknown baseline {kind!r}; choose 'logreg' or 'rf'")
