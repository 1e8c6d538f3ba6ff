"""Notebook 03 on the 61 real GTZAN clips, with fast parameters."""
import json

import pytest
from helpers import accuracy_of

from conftest import notebook_text

pytestmark = pytest.mark.slow


def test_notebook_03_trains_and_saves_on_real_clips(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("03_spectrogram_cnn.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir),
                      epochs=2, crops_per_track=2, flatten_head_epochs=1)
    text = notebook_text(nb)
    assert "61 tracks in 10 genres" in text
    assert "84,3" in text                      # the seed document's network on 30 s clips: 84.3 M parameters
    metrics = json.loads((real_run_dir / "metrics" / "cnn.json").read_text())
    assert metrics["accuracy"] == pytest.approx(accuracy_of(metrics["test_confusion"])) and len(metrics["classes"]) == 10
    assert metrics["epochs_trained"] == 2 and metrics["train_config"]["crops_per_track"] == 2  # the -p values arrived
    assert (real_run_dir / "models" / "cnn.pt").is_file()
    assert "track-level accuracy" in text and "flatten head" in text
