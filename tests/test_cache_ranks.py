"""Per-track caches under torchrun: each rank computes its share of the missing entries, then
every rank returns all of them (issue 20). Two gloo processes on the loopback address."""
import json
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from cache_worker import MEL, build_on_rank

from muzo_lib.features.cache import LogMelCache
from muzo_lib.io import ranks
from tests.helpers import tone, write


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tracks(folder, n_good: int = 8) -> list[str]:
    """``n_good`` 2 s tones and one corrupt file (a WAV header and no audio), sorted by name."""
    good = [write(folder / f"t{i}.wav", tone(2.0, freq=200.0 + 40 * i, seed=i)) for i in range(n_good)]
    bad = folder / "t_bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt not audio")
    return [str(p) for p in [*good, bad]]


def _one_process(paths, folder):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                       # the ranks' kernels
    try:
        return LogMelCache(folder, MEL).build(paths, n_jobs=1, progress=False)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("keep", [True, False], ids=["build", "check"])
def test_two_ranks_share_the_missing_entries_and_both_return_the_one_process_result(tmp_path, keep):
    paths = _tracks(tmp_path / "audio")
    bad = paths[-1]
    warm = paths[:3]
    _one_process(warm, tmp_path / "cache")         # three entries already there: only the other six are missing
    out = tmp_path / "out"
    out.mkdir()
    mp.spawn(build_on_rank, args=(2, _free_port(), paths, str(tmp_path / "cache"), str(out), keep), nprocs=2, join=True)
    got = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    arrays = [np.load(out / f"rank{r}.npz") for r in (0, 1)]
    expected, expected_errors = _one_process(paths, tmp_path / "alone")

    missing = sorted(set(paths) - set(warm))
    assert [len(g["computed"]) for g in got] == [3, 3]                       # half of the six each
    assert sorted(got[0]["computed"] + got[1]["computed"]) == missing        # each missing one on one rank
    for g, a in zip(got, arrays):
        assert g["values"] == list(expected) == paths[:-1]
        assert g["markers"] == [not keep] * len(g["values"])                # check(): no array held
        if not keep:                                                         # ... and every entry is on disk
            a = {str(i): LogMelCache(tmp_path / "cache", MEL).load(p) for i, p in enumerate(g["values"])}
        for i, path in enumerate(g["values"]):
            np.testing.assert_array_equal(a[str(i)], expected[path])
        assert g["errors"] == expected_errors and list(expected_errors) == [bad]
    assert "not decodable" in expected_errors[bad]


@pytest.mark.parametrize("world", [ranks.DistInfo(), ranks.DistInfo(rank=0, world_size=1, backend="gloo")],
                         ids=["no group", "group of one"])
def test_alone_every_missing_entry_is_computed_here_and_counted_without_collectives(tmp_path, monkeypatch, world):
    monkeypatch.setattr(ranks, "current", lambda: world)
    monkeypatch.setattr(ranks, "all_gather_objects", lambda obj: pytest.fail("a collective alone"))
    paths = _tracks(tmp_path / "audio", n_good=3)
    cache = LogMelCache(tmp_path / "cache", MEL)
    values, errors = cache.build(paths[:2], progress=False)
    assert cache.computed == paths[:2] and len(values) == 2 and not errors
    values, errors = cache.build(paths, progress=False)
    assert cache.computed == paths[:2] + paths[2:] and list(values) == paths[:3] and list(errors) == paths[3:]


def test_an_entry_another_rank_left_elsewhere_is_computed_here(tmp_path, monkeypatch, caplog):
    """Cache folders on node-local disks: rank 1 finds none of rank 0's entries, so it computes
    them too (with a warning) and still returns every value."""
    paths = _tracks(tmp_path / "audio", n_good=4)[:4]
    monkeypatch.setattr(ranks, "current", lambda: ranks.DistInfo(rank=1, world_size=2, backend="gloo"))
    monkeypatch.setattr(ranks, "all_gather_objects", lambda obj: [obj, obj])    # rank 0 missed the same, failed alike
    cache = LogMelCache(tmp_path / "cache", MEL)
    with caplog.at_level("WARNING", logger="muzo"):
        values, errors = cache.build(paths, progress=False)
    assert cache.computed == paths[1::2] + paths[0::2]                     # its share, then rank 0's
    assert len(caplog.records) == 2 and "not found on rank 1" in caplog.records[0].getMessage()
    alone, _ = LogMelCache(tmp_path / "alone", MEL).build(paths, progress=False)
    assert list(values) == paths and not errors
    assert all(np.array_equal(values[p], alone[p]) for p in paths)
    for entry in cache.folder.iterdir():                                   # and the same when only checking
        entry.unlink()
    checking = LogMelCache(tmp_path / "cache", MEL)
    assert checking.check(paths, progress=False) == {} and checking.computed == paths[1::2] + paths[0::2]
    assert all(checking.path_for(p).is_file() for p in paths)


def test_ranks_on_one_machine_share_its_cores(monkeypatch):
    from muzo_lib.io import ranks

    monkeypatch.setattr(ranks.os, "cpu_count", lambda: 8)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert ranks.cores_per_rank() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert ranks.cores_per_rank() == 4
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert ranks.cores_per_rank() == 1
