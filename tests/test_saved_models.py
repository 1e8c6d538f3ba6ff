"""Model files saved before the package moved into subpackages still load and predict the same.

The fixtures were written by Muzo at 087690d, when the classes lived at ``muzo_lib.forest`` and
``muzo_lib.pretrained.classifier``: skops records those module paths in the file.
"""
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures"


def _modules(path: Path) -> str:
    return zipfile.ZipFile(path).read("schema.json").decode()


def test_forest_saved_before_the_move_loads_and_predicts_the_same():
    from muzo_lib.forest import MusicGenreClassifier  # the old home, as the file names it
    path = FIXTURES / "pre_layout_forest.skops"
    assert '"muzo_lib.forest"' in _modules(path)
    inputs = np.load(FIXTURES / "pre_layout_inputs.npz", allow_pickle=False)
    X = pd.DataFrame(inputs["X"], columns=list(inputs["columns"]))
    model = MusicGenreClassifier.load_model(path)
    assert list(model.classes_) == ["blues", "rock"]
    np.testing.assert_allclose(model.predict_proba(X), inputs["forest_proba"], atol=1e-12)


def test_embedding_classifier_saved_before_the_move_loads_and_predicts_the_same():
    from muzo_lib.pretrained.classifier import EmbeddingClassifier  # the old home
    path = FIXTURES / "pre_layout_embedding.skops"
    assert '"muzo_lib.pretrained.classifier"' in _modules(path)
    inputs = np.load(FIXTURES / "pre_layout_inputs.npz", allow_pickle=False)
    model = EmbeddingClassifier.load_model(path)
    assert list(model.classes_) == ["blues", "rock"]
    np.testing.assert_allclose(model.predict_proba(inputs["E"]), inputs["embedding_proba"], atol=1e-12)
