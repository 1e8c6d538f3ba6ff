"""One prediction path: the seed API, `muzo predict` and the README's Python example give
the same numbers for the same model file and audio file, from any directory."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from muzo_lib.course.classifiers import CNNMusicClassifier
from muzo_lib.features.spectrogram import MelConfig
from muzo_lib.models.networks import CNNConfig, HybridCNNRNN, HybridConfig, SpectrogramCNN
from muzo_lib.training.checkpoints import save_checkpoint
from tests.helpers import tone, write

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CLASSES = ["jazz", "pop", "rock"]
MEL = MelConfig(n_mels=32)


def _network(architecture: str):
    torch.manual_seed(0)
    if architecture == "cnn":
        return SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32, channels=(4, 4, 8, 8), hidden=8)).eval()
    return HybridCNNRNN(HybridConfig(n_classes=3, n_mels=32, channels=(4, 4, 8), rnn_hidden=8, dense=8)).eval()


@pytest.fixture(scope="module")
def long_song(tmp_path_factory):
    """60 s whose second half differs from its first: reading 30 s or 60 s gives other numbers."""
    return write(tmp_path_factory.mktemp("audio") / "long.wav",
                 np.concatenate([tone(30.0, freq=220), tone(30.0, freq=1760, seed=5)]))


@pytest.mark.parametrize("architecture, duration", [("cnn", None), ("hybrid", None), ("cnn", 30.0)])
def test_seed_api_and_muzo_predict_give_identical_probabilities(tmp_path, long_song, architecture, duration):
    extra = {} if duration is None else {"duration": duration}
    path = save_checkpoint(tmp_path / "model.pt", _network(architecture), MEL, CLASSES, 1.0, extra=extra)
    seed_api = CNNMusicClassifier(verbose=False).load_model(path).predict(str(long_song))["predictions"]
    done = subprocess.run([sys.executable, "-m", "muzo_lib.cli", "predict", str(long_song), "--model", str(path),
                           "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)[0]
    assert cli["seconds"] == seed_api["seconds"] == (duration or 60.0)
    assert cli["genre"] == seed_api["predicted_genre"]
    assert cli["probabilities"] == pytest.approx(seed_api["probabilities"], abs=1e-6)


def test_readme_python_example_runs_from_any_directory(tmp_path):
    """The README's snippet, as written, in a folder far from the checkout."""
    readme = (REPO / "README.md").read_text()
    snippet = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S)
                   if "CNNMusicClassifier" in block)
    model_file = re.search(r'load_model\("([^"]+)"\)', snippet).group(1)
    audio_file = re.search(r'predict\("([^"]+)"\)', snippet).group(1)
    save_checkpoint(tmp_path / model_file, _network("cnn"), MEL, CLASSES, 1.0)
    write(tmp_path / audio_file, tone(4.0), format=Path(audio_file).suffix[1:].upper())
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in CLASSES
