import os
import time

import numpy as np
import pytest

from muzo_lib.features.cache import LogMelCache
from muzo_lib.features.spectrogram import MelConfig, librosa_logmel
from muzo_lib.io.audio import load_audio
from tests.helpers import tone, write


def test_computes_once_then_loads(tmp_path, monkeypatch):
    path = write(tmp_path / "a.wav", tone(3.0))
    cache = LogMelCache(tmp_path / "cache", MelConfig(n_mels=64))
    first = cache.load(path)
    assert first.dtype == np.float16 and first.shape == (64, MelConfig().frames(3.0))
    np.testing.assert_allclose(first, librosa_logmel(load_audio(path), MelConfig(n_mels=64)), atol=0.05)
    calls = []
    monkeypatch.setattr("muzo_lib.features.cache.load_audio", lambda *a, **k: calls.append(a))
    np.testing.assert_array_equal(cache.load(path), first)
    assert calls == []  # warm: no decoding


def test_key_covers_settings_and_file_identity(tmp_path):
    path = write(tmp_path / "a.wav", tone(3.0))
    a = LogMelCache(tmp_path / "c", MelConfig())
    b = LogMelCache(tmp_path / "c", MelConfig(hop_length=256))
    c = LogMelCache(tmp_path / "c", MelConfig(), duration=2.0)
    assert len({a.path_for(path), b.path_for(path), c.path_for(path)}) == 3
    assert c.load(path).shape[1] == MelConfig().frames(2.0)
    before = a.path_for(path)
    a.load(path)
    time.sleep(0.01)
    write(path, tone(3.0, freq=660.0))          # the file changes: its entry must too
    os.utime(path, ns=(time.time_ns(), time.time_ns()))
    assert a.path_for(path) != before
    fresh = a.load(path)
    assert not np.array_equal(fresh, np.load(before))


def test_build_reports_bad_files_and_keeps_going(tmp_path):
    good = [write(tmp_path / f"{i}.wav", tone(2.0, seed=i)) for i in range(3)]
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    arrays, errors = LogMelCache(tmp_path / "c").build(good + [bad], n_jobs=2, progress=False)
    assert set(arrays) == {str(p) for p in good}
    assert list(errors) == [str(bad)] and "not decodable" in errors[str(bad)]


def test_no_partial_files_left_behind(tmp_path, monkeypatch):
    path = write(tmp_path / "a.wav", tone(2.0))
    cache = LogMelCache(tmp_path / "c")

    def broken_save(f, array):
        f.write(b"half")
        raise KeyboardInterrupt
    monkeypatch.setattr("muzo_lib.features.cache.np.save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        cache.load(path)
    assert not cache.path_for(path).exists()
    assert list(cache.folder.iterdir()) == []


def test_build_reports_missing_files(tmp_path):
    good = write(tmp_path / "a.wav", tone(2.0))
    arrays, errors = LogMelCache(tmp_path / "c").build([good, tmp_path / "gone.wav"], progress=False)
    assert list(arrays) == [str(good)]
    assert errors == {str(tmp_path / "gone.wav"): "cannot read file (No such file or directory)"}


@pytest.mark.parametrize("damage", [b"", b"\x93NUMPY garbage", b"not numpy at all"])
def test_a_damaged_entry_is_rebuilt_not_fatal(tmp_path, damage):
    path = write(tmp_path / "a.wav", tone(3.0))
    cache = LogMelCache(tmp_path / "cache", MelConfig(n_mels=32))
    good = cache.load(path)
    cache.path_for(path).write_bytes(damage)  # a crash, a full disk, a bad copy
    arrays, errors = cache.build([path], progress=False)
    assert errors == {} and np.array_equal(arrays[str(path)], good)
    np.testing.assert_array_equal(np.load(cache.path_for(path)), good)  # and the entry is whole again
    cache.path_for(path).write_bytes(damage)
    np.testing.assert_array_equal(cache.load(path), good)


# ---------------------------------------------------------------- one rule for every per-track cache

def _logmel_cache(folder):
    return LogMelCache(folder, MelConfig(n_mels=32))


def _feature_cache(folder):
    from muzo_lib.features.handmade import AudioFeatureExtractor, FeatureCache
    return FeatureCache(folder, AudioFeatureExtractor(extras=False))


def _embedding_cache(folder):
    from muzo_lib.models.pretrained.embeddings import EmbeddingCache, EmbeddingConfig
    return EmbeddingCache(folder, EmbeddingConfig(precision="float32"))


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    return np.array_equal(a, b)


@pytest.mark.parametrize("make", [_logmel_cache, _feature_cache, _embedding_cache], ids=["logmel", "features", "embeddings"])
@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 half a zip", b"\x93NUMPY garbage", b"{\"tempo\": "])
def test_every_cache_deletes_recomputes_and_counts_a_damaged_entry(tmp_path, make, damage, caplog):
    from muzo_lib.features.cache import TrackCache

    path = write(tmp_path / "a.wav", tone(3.5))
    cache = make(tmp_path / "cache")
    assert isinstance(cache, TrackCache)
    good = cache.load(path)
    cache.path_for(path).write_bytes(damage)
    with caplog.at_level("WARNING", logger="muzo"):
        values, errors = cache.build([path], progress=False)
    assert errors == {} and _same(values[str(path)], good)
    assert cache.damaged == [str(path)] and len(caplog.records) == 1
    assert _same(cache.read(cache.path_for(path)), good)            # the entry is whole again
    cache.path_for(path).write_bytes(damage)
    assert _same(cache.load(path), good) and cache.damaged == [str(path)] * 2


@pytest.mark.parametrize("make", [_logmel_cache, _feature_cache], ids=["logmel", "features"])
def test_every_cache_reports_a_failing_track_and_a_missing_file_and_keeps_going(tmp_path, make):
    good = write(tmp_path / "a.wav", tone(3.5))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not audio")
    values, errors = make(tmp_path / "cache").build([bad, good, tmp_path / "gone.wav"], n_jobs=2, progress=False)
    assert list(values) == [str(good)]
    assert list(errors) == [str(bad), str(tmp_path / "gone.wav")]
    assert errors[str(tmp_path / "gone.wav")] == "cannot read file (No such file or directory)"
