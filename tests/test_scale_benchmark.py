"""benchmarks/scale.py's own arithmetic: the size subsets, the growth exponent and the tables made
from its JSON (the measured run itself takes minutes; its numbers are never typed by hand)."""
import math
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import scale  # noqa: E402
import scale_report  # noqa: E402


def test_a_size_is_the_first_tracks_of_every_subgenre_hard_linked(tmp_path):
    source = tmp_path / "synth"
    rows = []
    for genre, sub in scale.subgenres():
        for i in range(4):
            rel = f"{genre}/{sub}/{genre}_{sub}_{i:03d}.wav"
            (source / rel).parent.mkdir(parents=True, exist_ok=True)
            (source / rel).write_bytes(b"x")
            rows.append({"path": rel, "artist": f"{genre}_{sub}_artist{i + 1}", "genre": genre, "subgenre": sub})
    pd.DataFrame(rows).to_csv(source / "metadata.csv", index=False)
    groups = len(scale.subgenres())
    dest = scale.subset(source, 2 * groups + 5, tmp_path / "data")
    kept = pd.read_csv(dest / "metadata.csv")
    per_subgenre = kept.groupby(["genre", "subgenre"], sort=False).size()
    assert len(kept) == 2 * groups + 5 and sorted(per_subgenre.unique()) == [2, 3] and (per_subgenre == 3).sum() == 5
    assert all(p.endswith(("_000.wav", "_001.wav", "_002.wav")) for p in kept.path)      # the first ones
    assert all(os.path.samefile(dest / p, source / p) for p in kept.path)               # links, not copies
    assert scale.subset(source, 2 * groups + 5, tmp_path / "data") == dest               # kept for the next run


def _results():
    def stage(name, n, seconds, failed=False):
        if failed:
            return {"stage": name, "failed": "ValueError: no"}
        return {"stage": name, "wall_s": seconds, "peak_mb": 300.0 + n, "after_imports_mb": 280.0,
                "workers_peak_mb": 0.0, "disk_added_mb": n / 10, "per_track_ms": 1000 * seconds / n}

    return {"settings": {"seconds": 30.0, "epochs": 1}, "generation": {"tracks": 400, "seconds": 12.0, "generated": True},
            "machine": {"cpus": 2, "cpu": "a CPU", "load_average": 0.1},
            "sizes": [{"tracks": 100, "stages": [stage("scan", 100, 1.0), stage("cnn", 100, 10.0)]},
                      {"tracks": 400, "stages": [stage("scan", 400, 4.0), stage("cnn", 400, 80.0, failed=True)]}],
            "sharded_cache": [{"tracks": 100, "world_size": 2, "one_process_s": 2.0, "ranks_s": 1.0, "speedup": 2.0,
                               "identical": True, "files": 100}]}


def test_growth_exponent_is_the_slope_on_log_log_axes():
    assert scale_report.growth_exponent(100, 1.0, 400, 4.0) == pytest.approx(1.0)
    assert scale_report.growth_exponent(100, 1.0, 400, 16.0) == pytest.approx(2.0)
    assert scale_report.growth_exponent(100, 0.0, 400, 1.0) is None
    assert math.isclose(scale_report.growth_exponent(240, 3.0, 2000, 3.0), 0.0, abs_tol=1e-12)


def test_the_markdown_tables_come_from_the_json():
    text = scale_report.report(_results(), as_markdown=True)
    assert "| stage | 100 tracks | 400 tracks | exponent 100->400 |" in text
    assert "| scan | 1.00 | 4.00 | 1.00 |" in text
    assert "| cnn | 10.00 | failed |  |" in text
    assert "| total | 11.00 |  |  |" in text                  # no total where a stage failed
    assert "| scan | 400 (280) | 700 (280) |" in text
    assert "| 100 | 2.00 | 2 | 1.00 | 2.00x | yes (100 files) |" in text
    assert "generating the 400 tracks took 12.0 s (not a stage)" in text
    plain = scale_report.report(_results())
    assert "|" not in plain.split("\n\n")[2] and "exponent 100->400" in plain


def test_the_plot_is_written(tmp_path):
    scale_report.plot(_results(), tmp_path / "scale.png")
    assert (tmp_path / "scale.png").stat().st_size > 1000


def test_the_published_scale_page_shows_its_json_unchanged():
    """docs/scale.md's tables are the script's --markdown output of docs/scale_results.json: no
    number on the page was typed by hand or left from an earlier run."""
    import json

    docs = Path(__file__).resolve().parent.parent / "docs"
    results = json.loads((docs / "scale_results.json").read_text())
    page = (docs / "scale.md").read_text()
    for block in scale_report.report(results, as_markdown=True).split("\n\n"):
        assert block in page, f"docs/scale.md lacks, unchanged: {block[:80]}"
