"""`muzo train --levels` and `muzo predict` on a <genre>/<subgenre>/<file> folder, as a user runs them."""
import json

import pytest

from muzo_lib.data.datasets import scan_dataset
from muzo_lib.models.hierarchy import ClassTree, check_layout
from muzo_lib.training.checkpoints import load_checkpoint
from tests.helpers import tiny_dataset, tiny_two_level_dataset
from tests.test_cli import _muzo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-levels")
    return root, tiny_two_level_dataset(root / "data", per_subgenre=4)


def test_train_learns_both_levels_by_default_and_predict_json_is_consistent(data):
    root, folder = data
    done = _muzo("train", "--data-dir", folder, "--architecture", "cnn", "--output", root / "two.pt", "--epochs", "2",
                 "--segment-seconds", "1", "--run-dir", root / "run")
    assert done.returncode == 0, done.stderr
    tree = ClassTree.from_dict(load_checkpoint(root / "two.pt").extra["class_tree"])
    assert len(tree.genres) == 3 and tree.subgenres == ("jazz/classic", "jazz/swing", "rock/classic", "rock/punk")
    layout = [line for line in done.stderr.splitlines() if line.startswith("layout: ")]   # check_layout's findings
    assert layout == [f"layout: {line}" for line in check_layout(scan_dataset(folder))] and len(layout) >= 1
    assert "subgenres (top-down): test accuracy %" in done.stdout and "chance 25.0" in done.stdout
    out = _muzo("predict", folder / "rock", folder / "jazz", "--model", root / "two.pt", "--json", "--top-k", "2")
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)
    assert len(items) == 16 and all("subgenre_confidence" in i for i in items)
    for item in items:
        if item["genre"] != "pop":
            assert item["subgenre"] in {"jazz": {"classic", "swing"}, "rock": {"classic", "punk"}}[item["genre"]]
            assert item["subgenre_top_k"][0]["subgenre"] == item["subgenre"]
    table = _muzo("predict", folder / "rock" / "punk", "--model", root / "two.pt", "--no-progress")
    assert "subgenre %" in table.stdout and "(3 genres, 4 subgenres)" in table.stdout
    assert any(" / " in line for line in table.stdout.splitlines()[1:-1]) or "pop" in table.stdout


def test_levels_genre_trains_genre_only_and_levels_both_needs_subgenres(data):
    root, folder = data
    done = _muzo("train", "--data-dir", folder, "--architecture", "cnn", "--output", root / "flat.pt", "--epochs", "1",
                 "--segment-seconds", "1", "--run-dir", root / "run", "--levels", "genre", "--quiet")
    assert done.returncode == 0, done.stderr and "subgenres" not in done.stdout
    item = json.loads(_muzo("predict", folder / "rock" / "punk", "--model", root / "flat.pt", "--json").stdout)[0]
    assert item["genre"] and item["subgenre"] is None and item["subgenre_top_k"] is None
    flat = tiny_dataset(root / "flat-data", per_genre=3)
    bad = _muzo("train", "--data-dir", flat, "--architecture", "cnn", "--output", root / "x.pt", "--levels", "both",
                "--quiet")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--levels both needs subgenre folders" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
