"""Notebook 03 on the 61 real GTZAN clips, with fast parameters."""
import json

from conftest import notebook_text


def test_notebook_03_trains_and_saves_on_real_clips(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("03_spectrogram_cnn.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir),
                      epochs=2, crops_per_track=2, seed_head_epochs=1)
    text = notebook_text(nb)
    assert "61 tracks in 10 genres" in text
    assert "84,3" in text                      # the seed network's parameter count on 30 s clips
    metrics = json.loads((real_run_dir / "metrics" / "cnn.json").read_text())
    assert 0 <= metrics["accuracy"] <= 100 and len(metrics["classes"]) == 10
    assert (real_run_dir / "models" / "cnn.pt").is_file()
    assert "track-level accuracy" in text and "seed head" in text
