"""Notebook 06 (genre and subgenre) on the 61 real GTZAN clips: GTZAN has no subgenres, so the
notebook must say so and still run, genre-only, with papermill and fast parameters."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import notebook_text

pytestmark = pytest.mark.slow


def test_nb06_runs_genre_only_on_real_clips(run_notebook, real_data_dir, real_run_dir):
    nb = run_notebook("06_genre_and_subgenre.ipynb", data_dir=str(real_data_dir), run_dir=str(real_run_dir),
                      epochs=2, crops_per_track=2)
    text = notebook_text(nb)
    assert "61 tracks, 10 genres, 0 subgenres" in text
    assert "This dataset has no subgenre folders (GTZAN has none): the notebook runs genre-only below." in text
    assert "blues: no subgenres (genre level only)" in text
    table = pd.read_csv(real_run_dir / "06_comparison.csv", index_col=0)
    assert list(table.index) == ["genre only"] and table.iloc[0, 0].endswith("tracks")
    reused = "genre-only cnn: the course's own model, same settings and split (reused, not retrained)" in text
    assert reused or (real_run_dir / "models" / "06_cnn_genre.pt").is_file()   # reused when 03 ran with these knobs
