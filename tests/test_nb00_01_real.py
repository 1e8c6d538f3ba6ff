"""Notebooks 00 and 01 on real recordings (61 GTZAN clips), run with papermill."""
import json

import pytest

from tests.conftest import notebook_text

pytestmark = pytest.mark.slow


def test_dataset_tour_finds_61_tracks_in_10_genres(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("00_dataset_tour.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir))
    text = notebook_text(nb)
    assert "61 files, 61 usable tracks in 10 genres" in text
    assert (real_run_dir / "split.csv").exists()
    meta = json.loads((real_run_dir / "dataset.json").read_text())
    assert meta["is_gtzan"] is True


def test_spectrograms_cache_every_real_track(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("01_spectrograms.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir))
    text = notebook_text(nb)
    assert "61 tracks cached, dtype float16, 64 mel bands" in text  # the course's input
    diff = float(text.split("largest difference from librosa: ")[1].split(" dB")[0])
    assert diff < 0.01
