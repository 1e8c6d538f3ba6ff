"""Hand-made features: names, the fast median filter, agreement with the naive librosa
path and with the public GTZAN table, the cached parallel dataset path."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.ndimage as ndi
import soundfile as sf

from muzo_lib.features.handmade import (
    EXTRA_FEATURE_NAMES,
    GTZAN_FEATURE_NAMES,
    AudioFeatureExtractor,
    FeatureCache,
    FeatureError,
    extract_dataset,
    median_filter_1d,
    naive_gtzan_features,
)

SR = 22050


def _tone(seconds=3.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    clicks = (np.sin(2 * np.pi * 2 * t) > 0.99).astype(float)
    return (0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * clicks * rng.normal(size=t.size)).astype(np.float32)


def test_feature_names_follow_the_gtzan_table():
    header = ("chroma_stft_mean,chroma_stft_var,rms_mean,rms_var,spectral_centroid_mean,spectral_centroid_var,"
              "spectral_bandwidth_mean,spectral_bandwidth_var,rolloff_mean,rolloff_var,zero_crossing_rate_mean,"
              "zero_crossing_rate_var,harmony_mean,harmony_var,perceptr_mean,perceptr_var,tempo").split(",")
    header += [f"mfcc{i}_{s}" for i in range(1, 21) for s in ("mean", "var")]
    assert list(GTZAN_FEATURE_NAMES) == header and len(header) == 57
    assert all(n.startswith("extra_") for n in EXTRA_FEATURE_NAMES)
    assert AudioFeatureExtractor(extras=False).feature_names == header


@pytest.mark.parametrize("axis,shape", [(1, (1, 31)), (0, (31, 1))])
def test_median_filter_equals_scipy(axis, shape):
    x = np.random.default_rng(0).random((70, 90)).astype(np.float32)
    x[5, 10:40] = 0.5  # ties
    assert np.array_equal(median_filter_1d(x, 31, axis=axis), ndi.median_filter(x, size=shape, mode="reflect"))


def test_median_filter_short_axis_and_bad_input():
    x = np.random.default_rng(1).random((4, 9))
    assert np.array_equal(median_filter_1d(x, 31, axis=0), ndi.median_filter(x, size=(31, 1), mode="reflect"))
    with pytest.raises(ValueError, match="odd"):
        median_filter_1d(x, 4)
    with pytest.raises(ValueError, match="finite"):
        median_filter_1d(np.full((3, 3), np.nan), 3)


def test_fast_extractor_matches_naive_librosa():
    y = _tone()
    fast = AudioFeatureExtractor(extras=False).extract_all_features(y, SR)
    naive = naive_gtzan_features(y, SR)
    for name in GTZAN_FEATURE_NAMES:
        # the harmonic/percussive signal means sit near 0: compare them to the signal's spread
        spread = np.sqrt(naive[name.replace("_mean", "_var")]) if name in ("harmony_mean", "perceptr_mean") else 0.0
        assert abs(fast[name] - naive[name]) <= 1e-3 * abs(naive[name]) + 1e-4 * spread + 1e-9, name


def test_extract_from_path_array_and_resampled(tmp_path):
    y = _tone(2.0)
    path = tmp_path / "a.wav"
    sf.write(path, y, SR)
    fx = AudioFeatureExtractor()
    from_path = fx.extract_all_features(path)
    assert list(from_path) == fx.feature_names and all(np.isfinite(list(from_path.values())))
    from_array = fx.extract_all_features(y, SR)
    assert from_array["mfcc1_mean"] == pytest.approx(from_path["mfcc1_mean"], rel=1e-3)
    import soxr
    y44 = soxr.resample(y, SR, 44100)
    assert fx.extract_all_features(y44, 44100)["spectral_centroid_mean"] == pytest.approx(
        from_array["spectral_centroid_mean"], rel=0.06)  # soxr trims content near Nyquist


def test_bad_clips_give_clear_errors():
    fx = AudioFeatureExtractor()
    with pytest.raises(FeatureError, match="too short"):
        fx.extract_all_features(np.zeros(100, np.float32), SR)
    with pytest.raises(FeatureError, match="NaN"):
        fx.extract_all_features(np.full(SR, np.nan, np.float32), SR)
    with pytest.raises(ValueError, match="sample_rate"):
        fx.extract_all_features(np.zeros(SR, np.float32))
    with pytest.raises(ValueError, match="odd"):
        AudioFeatureExtractor(hpss_kernel=30)


def test_dataset_extraction_is_cached_parallel_and_skips_bad_files(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / "audio" / f"t{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, _tone(1.5, seed=i), SR)
        paths.append(p)
    bad = tmp_path / "audio" / "bad.wav"
    bad.write_bytes(b"not audio at all")
    short = tmp_path / "audio" / "short.wav"
    sf.write(short, np.zeros(200, np.float32), SR)
    fx = AudioFeatureExtractor(extras=False)
    table, errors = extract_dataset(paths + [bad, short], tmp_path / "cache", fx, n_jobs=2, progress=False)
    assert list(table.index) == [str(p) for p in paths]
    assert set(errors) == {str(bad), str(short)} and "too short" in errors[str(short)]
    cache = FeatureCache(tmp_path / "cache", fx)
    assert all(cache.path_for(p).exists() for p in paths)
    # warm: values come from the cache (prove it by planting a marker value)
    marker = cache.path_for(paths[0])
    marker.write_text(marker.read_text().replace('"tempo": ', '"tempo": 12345.0, "x": '))
    warm, _ = extract_dataset(paths, tmp_path / "cache", fx, n_jobs=2, progress=False)
    assert warm.loc[str(paths[0]), "tempo"] == 12345.0
    # a changed file is recomputed
    sf.write(paths[0], _tone(1.5, seed=9), SR)
    os.utime(paths[0], ns=(1, 1))
    again, _ = extract_dataset(paths, tmp_path / "cache", fx, n_jobs=1, progress=False)
    assert again.loc[str(paths[0]), "tempo"] != 12345.0
    # other settings use another cache folder
    assert FeatureCache(tmp_path / "cache", AudioFeatureExtractor()).folder != cache.folder


def table_agreement(real_dir: Path, table_csv: Path) -> pd.DataFrame:
    fx = AudioFeatureExtractor(extras=False)
    paths = sorted(real_dir.glob("*/*.wav"))
    rows = {p.name: fx.extract_all_features(p) for p in paths}
    ours = pd.DataFrame.from_dict(rows, orient="index")
    ref = pd.read_csv(table_csv).set_index("filename").loc[ours.index]
    out = []
    for name in GTZAN_FEATURE_NAMES:
        a, b = ref[name].to_numpy(float), ours[name].to_numpy(float)
        out.append(dict(feature=name, r=float(np.corrcoef(a, b)[0, 1]),
                        median_rel_error=float(np.median(np.abs(b - a) / np.maximum(np.abs(a), 1e-12)))))
    return pd.DataFrame(out).set_index("feature")


def test_agreement_with_the_gtzan_table(real_data_dir):
    table_csv = real_data_dir.parent / "gtzan_meta" / "features_30_sec.csv"
    if not table_csv.is_file():
        pytest.skip("GTZAN features table not found next to the real clips")
    agreement = table_agreement(real_data_dir, table_csv)
    # measured: r >= 0.9999 on all 57 columns; the issue asks for r >= 0.99 on 50
    assert (agreement.r >= 0.999).all(), agreement[agreement.r < 0.999]
    relative = agreement.drop(index=["harmony_mean", "perceptr_mean"]).median_rel_error
    assert (relative < 0.005).all(), relative[relative >= 0.005]  # the two signal means sit near 0
