import importlib.util

import numpy as np
import pytest
import torch

from muzo_lib.features.spectrogram import LogMelSpectrogram, MelConfig, librosa_logmel
from muzo_lib.io.audio import load_audio
from tests.helpers import tone

SETTINGS = [MelConfig(), MelConfig(n_fft=1024, hop_length=256, n_mels=64, fmin=30.0, fmax=8000.0),
            MelConfig(sample_rate=16000, n_fft=512, hop_length=160, n_mels=40, top_db=None)]


def _music(seconds=5.0, sr=22050):
    rng = np.random.default_rng(0)
    y = tone(seconds, sr=sr) + tone(seconds, sr=sr, freq=97.0) * np.linspace(0, 1, int(seconds * sr), dtype=np.float32)
    clicks = np.zeros_like(y)
    clicks[:: sr // 2] = 0.8
    return (y + clicks + 0.003 * rng.standard_normal(len(y))).astype(np.float32)


@pytest.mark.parametrize("config", SETTINGS, ids=["default", "small", "16k-no-topdb"])
def test_matches_librosa_on_generated_audio(config):
    y = _music(sr=config.sample_rate)
    ours = LogMelSpectrogram(config)(torch.from_numpy(y)).numpy()
    ref = librosa_logmel(y, config)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 0.01


def test_matches_librosa_on_real_clips(real_data_dir):
    config = MelConfig()
    front = LogMelSpectrogram(config)
    paths = sorted(real_data_dir.glob("*/*.wav"))[::6]
    worst = 0.0
    for path in paths:
        y = load_audio(path)
        worst = max(worst, float(np.abs(front(torch.from_numpy(y)).numpy() - librosa_logmel(y, config)).max()))
    assert len(paths) >= 10 and worst < 0.01


def test_batches_equal_single_clips_and_keep_leading_dims():
    front = LogMelSpectrogram(MelConfig(n_mels=64))
    batch = torch.from_numpy(np.stack([_music(3.0), tone(3.0, freq=300.0)]))
    out = front(batch.reshape(2, 1, -1))
    assert out.shape == (2, 1, 64, MelConfig().frames(3.0))
    for i in range(2):
        torch.testing.assert_close(out[i, 0], front(batch[i]), atol=1e-3, rtol=0)


def test_frames_helper_and_short_input():
    config = MelConfig()
    assert config.frames(30.0) == 1292 and config.frames(3.0) == 130
    assert LogMelSpectrogram(config)(torch.zeros(10)).shape == (128, 1)


def test_stays_float32_under_autocast():
    front = LogMelSpectrogram()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = front(torch.from_numpy(_music(2.0)))
    assert out.dtype == torch.float32


@pytest.mark.parametrize("bad", [dict(n_mels=0), dict(hop_length=-1), dict(fmax=20000.0), dict(fmin=9000.0, fmax=8000.0)])
def test_wrong_settings_give_clear_errors(bad):
    with pytest.raises(ValueError, match="MelConfig"):
        MelConfig(**bad)


def test_config_key_tracks_every_setting():
    keys = {MelConfig().key(), MelConfig(n_mels=64).key(), MelConfig(top_db=None).key(), MelConfig(fmin=1.0).key()}
    assert len(keys) == 4 and MelConfig().key() == MelConfig().key()


def test_buffers_follow_the_module():
    front = LogMelSpectrogram().to(torch.float64)  # buffers move with .to(); compute stays float32
    assert front(torch.from_numpy(_music(1.0))).dtype == torch.float32


@pytest.mark.skipif(importlib.util.find_spec("torchaudio") is None,
                    reason="torchaudio is not installed (its PyPI wheel needs a CUDA build of torch); "
                           "the CPU path does not use it")
def test_matches_torchaudio_configured_the_same_way():
    try:
        import torchaudio
    except Exception as exc:  # installed but unloadable next to a CPU torch
        pytest.skip(f"torchaudio does not import here: {str(exc).splitlines()[0]}")
    config = MelConfig()
    y = torch.from_numpy(_music())
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=config.sample_rate, n_fft=config.n_fft, hop_length=config.hop_length, n_mels=config.n_mels,
        f_min=config.fmin, f_max=config.fmax, power=2.0, center=True, pad_mode="constant",
        mel_scale="slaney", norm="slaney")
    ref = torchaudio.transforms.AmplitudeToDB(stype="power", top_db=config.top_db)(mel(y))
    assert (LogMelSpectrogram(config)(y) - ref).abs().max() < 0.01


@pytest.mark.parametrize("n_fft, hop, samples", [(2048, 512, 22050 * 7 + 17), (1024, 300, 40000), (2048, 512, 100)])
def test_long_inputs_in_chunks_give_the_same_log_mel(n_fft, hop, samples):
    front = LogMelSpectrogram(MelConfig(n_fft=n_fft, hop_length=hop, n_mels=64))
    y = torch.from_numpy(np.random.default_rng(0).standard_normal(samples).astype(np.float32) * 0.1)
    y[: samples // 3] *= 1e-3  # a quiet start: the 80 dB floor must come from the whole, not each chunk
    torch.testing.assert_close(front.forward_long(y, chunk_frames=50), front(y), rtol=0, atol=1e-5)
