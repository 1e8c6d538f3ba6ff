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
@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 half a zip", b"\x93NUMPY garbage", b"{\"tempo\": ", "half"])
def test_every_cache_deletes_recomputes_and_counts_a_damaged_entry(tmp_path, make, damage, caplog):
    from muzo_lib.features.cache import TrackCache

    path = write(tmp_path / "a.wav", tone(3.5))
    cache = make(tmp_path / "cache")
    assert isinstance(cache, TrackCache)
    good = cache.load(path)
    if damage == "half":                                            # the entry cut short (a full disk, a kill)
        whole = cache.path_for(path).read_bytes()
        damage = whole[:len(whole) // 2]
    cache.path_for(path).write_bytes(damage)
    with caplog.at_level("WARNING", logger="muzo"):
        values, errors = cache.build([path], progress=False)
    assert errors == {} and _same(values[str(path)], good)
    assert cache.damaged == [str(path)] and len(caplog.records) == 1
    assert _same(cache.read(cache.path_for(path)), good)            # the entry is whole again
    cache.path_for(path).write_bytes(damage)
    assert _same(cache.load(path), good) and cache.damaged == [str(path)] * 2
    cache.path_for(path).write_bytes(damage)                       # a check finds it without keeping values
    assert cache.check([path], progress=False) == {} and cache.damaged == [str(path)] * 3
    entries = cache.entries({"a": path})
    cache.path_for(path).write_bytes(damage)                       # damaged after the mapping was made
    assert _same(entries["a"], good) and cache.damaged == [str(path)] * 4


@pytest.mark.parametrize("make", [_logmel_cache, _feature_cache], ids=["logmel", "features"])
def test_every_cache_reports_a_failing_track_and_a_missing_file_and_keeps_going(tmp_path, make):
    good = write(tmp_path / "a.wav", tone(3.5))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not audio")
    values, errors = make(tmp_path / "cache").build([bad, good, tmp_path / "gone.wav"], n_jobs=2, progress=False)
    assert list(values) == [str(good)]
    assert list(errors) == [str(bad), str(tmp_path / "gone.wav")]
    assert errors[str(tmp_path / "gone.wav")] == "cannot read file (No such file or directory)"


# ---------------------------------------------------------------- bounded memory: check, entries, bounded_map

def test_check_fills_the_cache_and_holds_no_value(tmp_path, monkeypatch):
    good = [write(tmp_path / f"{i}.wav", tone(2.0, seed=i)) for i in range(3)]
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    cache = LogMelCache(tmp_path / "c", MelConfig(n_mels=32))
    errors = cache.check(good + [bad], n_jobs=2, progress=False)
    assert list(errors) == [str(bad)] and all(cache.path_for(p).is_file() for p in good)
    values, _ = cache.build(good, progress=False, keep=False)
    assert values == {str(p): True for p in good}            # a marker, not the arrays
    # a warm check reads headers only: reading a whole entry would fail here
    monkeypatch.setattr(LogMelCache, "read", lambda self, target: pytest.fail("a warm check read an array"))
    assert cache.check(good, progress=False) == {}


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_check_finds_a_damaged_entry_from_its_header_and_rebuilds_it(tmp_path, damage):
    path = write(tmp_path / "a.wav", tone(3.0))
    cache = LogMelCache(tmp_path / "cache", MelConfig(n_mels=32))
    good = cache.load(path)
    entry = cache.path_for(path)
    whole = entry.read_bytes()
    entry.write_bytes({"truncated": whole[:len(whole) // 2], "empty": b"", "garbage": b"\x93NUMPY garbage"}[damage])
    assert cache.check([path], progress=False) == {} and cache.damaged == [str(path)]
    np.testing.assert_array_equal(np.load(entry), good)


def test_entries_are_read_when_asked_and_kept_within_their_memory(tmp_path):
    paths = {f"t{i}": write(tmp_path / f"{i}.wav", tone(2.0, seed=i)) for i in range(5)}
    cache = LogMelCache(tmp_path / "c", MelConfig(n_mels=32))
    assert cache.check(paths.values(), progress=False) == {}
    one = cache.load(paths["t0"]).nbytes
    entries = cache.entries(paths, memory_mb=2.5 * one / 2**20)          # room for two entries
    assert entries.reads == 0 and len(entries) == 5 and list(entries) == list(paths) and "t9" not in entries
    for key in ("t0", "t1", "t0", "t2", "t0", "t1"):
        np.testing.assert_array_equal(entries[key], cache.load(paths[key]))
    # t0 t1 read; t0 kept; t2 read (t1 dropped: least recently used); t0 kept; t1 read again
    assert entries.reads == 4 and entries.held_bytes == 2 * one <= entries.budget
    streamed = cache.entries(paths)                                     # memory_mb=0: nothing kept
    streamed["t3"], streamed["t3"]
    assert streamed.reads == 2 and streamed.held_bytes == 0
    with pytest.raises(KeyError):
        entries["t9"]
    with pytest.raises(ValueError, match="memory_mb"):
        cache.entries(paths, memory_mb=-1)


def test_an_entry_deleted_after_the_check_is_computed_again_when_read(tmp_path):
    path = write(tmp_path / "a.wav", tone(2.0))
    cache = LogMelCache(tmp_path / "c", MelConfig(n_mels=32))
    cache.check([path], progress=False)
    expected = cache.load(path)
    cache.path_for(path).unlink()
    np.testing.assert_array_equal(cache.entries({"a": path})["a"], expected)
    assert cache.path_for(path).is_file()


def test_entries_need_only_the_cache_once_made(tmp_path):
    path = write(tmp_path / "a.wav", tone(2.0))
    cache = LogMelCache(tmp_path / "c", MelConfig(n_mels=32))
    cache.check([path], progress=False)
    entries = cache.entries({"a": path})
    path.unlink()                                                   # the audio moved away mid-training
    np.testing.assert_array_equal(entries["a"], np.load(cache.folder / entries.targets["a"].name))


def test_keyed_sequence_and_mapped_entries_look_up_as_they_are_used():
    from muzo_lib.features.cache import KeyedSequence, MappedEntries

    asked = []

    class Recording(dict):
        def __getitem__(self, key):
            asked.append(key)
            return super().__getitem__(key)

    data = Recording(a=np.arange(4), b=np.arange(5), c=np.arange(6))
    seq = KeyedSequence(data, ["c", "a"])
    assert asked == [] and len(seq) == 2 and len(seq[1:]) == 1
    assert list(seq[1]) == [0, 1, 2, 3] and asked == ["a"]
    assert [len(x) for x in seq] == [6, 4]
    short = MappedEntries(data, lambda x: x[:2])
    assert len(short) == 3 and "b" in short and list(short) == ["a", "b", "c"] and list(short["b"]) == [0, 1]


def test_bounded_map_keeps_the_workers_a_few_items_ahead_of_a_slow_consumer():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from muzo_lib.features.cache import bounded_map

    lock, started, consumed, most_ahead = threading.Lock(), [0], [0], [0]

    def work(i):
        with lock:
            started[0] += 1
            most_ahead[0] = max(most_ahead[0], started[0] - consumed[0])
        return i * i

    with ThreadPoolExecutor(max_workers=2) as pool:
        out = []
        for value in bounded_map(pool, work, range(40), ahead=4):
            time.sleep(0.002)                                           # a consumer slower than the workers
            with lock:
                consumed[0] += 1
            out.append(value)
    assert out == [i * i for i in range(40)] and most_ahead[0] <= 4


def test_embeddings_decode_a_chunk_at_a_time_and_never_beside_the_network(tmp_path, monkeypatch):
    """Threads decode, the network embeds in this one: the decoded patches waiting for it stay
    within one chunk (they once piled up for every track: 1.1 MB each, past 4 GB near 3,200
    tracks), and no decoding competes with the network for the cores (20% slower on 2 cores)."""
    import threading

    from muzo_lib.models.pretrained.embeddings import OUTPUTS, EmbeddingCache

    paths = [tmp_path / f"{i}.wav" for i in range(40)]
    for p in paths:
        p.write_bytes(b"x")                         # never decoded: _decode is replaced
    lock = threading.Lock()
    count = {"decoding": 0, "decoded": 0, "embedded": 0, "waiting": 0, "beside": 0}

    def decode(self, path):
        with lock:
            count["decoding"] += 1
        time.sleep(0.001)
        with lock:
            count["decoding"] -= 1
            count["decoded"] += 1
            count["waiting"] = max(count["waiting"], count["decoded"] - count["embedded"])
        return np.zeros((1, 4), np.float32)

    class SlowNetwork:
        def run(self, patches):
            with lock:
                count["beside"] += count["decoding"]
            time.sleep(0.002)
            with lock:
                count["embedded"] += 1
            return {name: np.zeros((1, 2), np.float32) for name in OUTPUTS}

    monkeypatch.setattr(EmbeddingCache, "_decode", decode)
    cache = _embedding_cache(tmp_path / "c")
    cache._embedder = SlowNetwork()
    assert cache.check(paths, n_jobs=2, progress=False) == {}
    assert count["embedded"] == 40 and count["waiting"] <= cache.chunk < 40 and count["beside"] == 0
    outputs = cache.entries({p.stem: str(p) for p in paths})
    assert set(outputs["3"]) == set(OUTPUTS) and outputs.held_bytes == 0
