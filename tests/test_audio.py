import os

import numpy as np
import pytest

from muzo_lib.io.audio import (
    MAX_ABS_SAMPLE,
    AudioDecodeError,
    SignalStats,
    audio_info,
    decode_blocks,
    fix_length,
    load_audio,
    segment_signal,
    signal_problem,
)
from tests.helpers import tone, write


@pytest.mark.parametrize("ext,kwargs", [(".wav", {}), (".flac", {}), (".ogg", {}),
                                        (".mp3", {}), (".au", {}),
                                        (".wav", {"subtype": "PCM_24"}), (".wav", {"subtype": "FLOAT"})])
def test_common_formats_decode_to_mono_float32(tmp_path, ext, kwargs):
    y = tone(2.0)
    path = write(tmp_path / f"clip{ext}", y, **kwargs)
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - len(y)) < 0.05 * len(y)  # mp3 adds encoder padding
    if ext in (".wav", ".flac", ".au"):
        np.testing.assert_allclose(out, y, atol=1e-3)


def test_stereo_8khz_is_mixed_and_resampled(tmp_path):
    y = tone(2.0, sr=8000, channels=2)
    out = load_audio(write(tmp_path / "s.wav", y, sr=8000), sample_rate=22050)
    assert len(out) == pytest.approx(2.0 * 22050, abs=2)
    info = audio_info(tmp_path / "s.wav")
    assert info == {"duration": 2.0, "sample_rate": 8000, "channels": 2}
    # the mix is the channel mean: a 440 Hz tone must still dominate after resampling
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 22050 / len(out) - 440) < 5


def test_offset_and_duration_are_seconds(tmp_path):
    path = write(tmp_path / "c.wav", tone(4.0))
    assert len(load_audio(path, offset=1.0, duration=2.0)) == 2 * 22050


@pytest.mark.parametrize("content,reason", [(b"", "empty file"), (b"hello, I am text" * 10, "not decodable audio")])
def test_undecodable_files_give_one_line_reasons(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=reason) as info:
        load_audio(path)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_audio(tmp_path / "nope.wav")


def test_fix_length_and_segments():
    y = np.arange(10, dtype=np.float32)
    assert fix_length(y, 4).tolist() == [0, 1, 2, 3]
    assert fix_length(y, 12)[-2:].tolist() == [0, 0]
    segs = segment_signal(y, 4)
    assert segs.shape == (2, 4) and segs[1, 0] == 4
    assert segment_signal(y, 4, hop_samples=2).shape == (4, 4)
    assert segment_signal(y, 20).shape == (0, 20)
    assert segment_signal(y, 20, pad_last=True).shape == (1, 20)
    spec = np.zeros((3, 10))
    assert segment_signal(spec, 5).shape == (2, 3, 5)


# ---------------------------------------------------------------- reliability (issue 10)


def test_block_wise_decoding_equals_one_shot_resampling(tmp_path):
    import soundfile as sf
    import soxr

    y = tone(7.0, sr=44100, channels=2)
    path = write(tmp_path / "long.wav", y, sr=44100)
    blocks = list(decode_blocks(path, 22050, block_seconds=2.0))
    assert len(blocks) >= 3  # really streamed
    ref, sr = sf.read(str(path), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(np.concatenate(blocks), soxr.resample(ref.mean(axis=1), sr, 22050, quality="HQ"))


def test_max_seconds_reads_the_centred_excerpt(tmp_path):
    y = np.linspace(-0.5, 0.5, 22050 * 10, dtype=np.float32)  # the sample value tells its time
    path = write(tmp_path / "ramp.wav", y, subtype="FLOAT")
    part = load_audio(path, max_seconds=2.0)
    assert len(part) == 2 * 22050
    np.testing.assert_array_equal(part, y[4 * 22050:6 * 22050])
    assert len(load_audio(path, max_seconds=60.0)) == len(y)  # shorter files are read whole


@pytest.mark.parametrize("value, reason", [(1e17, "absurd sample values"), (np.inf, "NaN or infinite"),
                                           (np.nan, "NaN or infinite"), (2 * MAX_ABS_SAMPLE, "absurd sample values")])
def test_non_finite_or_absurd_float_samples_are_refused_at_decoding(tmp_path, value, reason):
    y = tone(3.0)
    y[30000] = value
    path = write(tmp_path / "huge.wav", y, subtype="FLOAT")
    with pytest.raises(AudioDecodeError, match=reason) as info:
        load_audio(path)
    assert "\n" not in str(info.value)
    y[30000] = 1.5  # a float file clipping a little above full scale is still audio
    assert load_audio(write(tmp_path / "hot.wav", y, subtype="FLOAT")).max() > 1.0


@pytest.mark.parametrize("signal, problem", [
    (np.zeros(22050 * 3), "silent"),
    (np.full(22050 * 3, 0.3), "no signal (DC only)"),
    (0.3 + 1e-6 * np.sin(np.arange(22050 * 3)), "no signal (DC only)"),
    (tone(0.05), "too short: 0.05 s"),
    (tone(3.0), None),
    (tone(3.0) + 0.4, None),  # a DC offset under real music is still music
])
def test_one_rule_says_whether_audio_carries_a_signal(signal, problem):
    assert signal_problem(np.asarray(signal, dtype=np.float32), 22050) == problem
    # block by block gives the same verdict as the whole array
    stats = SignalStats(22050)
    for block in np.array_split(np.asarray(signal, dtype=np.float32), 7):
        stats.update(block)
    assert stats.problem() == problem


def test_opus_decodes(tmp_path):
    path = write(tmp_path / "clip.opus", tone(2.0, sr=48000), sr=48000, format="OGG", subtype="OPUS")
    assert abs(len(load_audio(path)) - 2 * 22050) < 0.05 * 2 * 22050


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads every file")
def test_unreadable_file_is_named_as_such(tmp_path):
    path = write(tmp_path / "locked.wav", tone(1.0))
    path.chmod(0)
    try:
        with pytest.raises(AudioDecodeError, match="permission denied"):
            load_audio(path)
    finally:
        path.chmod(0o644)


def test_unreadable_file_is_named_as_such_whoever_runs_it(tmp_path, monkeypatch):
    path = write(tmp_path / "locked.wav", tone(1.0))
    monkeypatch.setattr("muzo_lib.io.audio.os.access", lambda p, mode: False)
    with pytest.raises(AudioDecodeError, match="permission denied"):
        load_audio(path)


def test_a_header_that_undercounts_still_gives_every_sample(tmp_path, monkeypatch):
    import muzo_lib.io.audio as audio

    path = write(tmp_path / "a.wav", tone(3.0))
    whole = load_audio(path)
    real_info = audio.audio_info
    monkeypatch.setattr(audio, "audio_info", lambda p: real_info(p) | {"duration": 1.0})  # as some MP3 headers
    np.testing.assert_array_equal(load_audio(path), whole)


def test_an_offset_past_the_end_reads_nothing(tmp_path):
    path = write(tmp_path / "a.wav", tone(2.0))
    for kwargs in ({"offset": 5.0}, {"offset": 5.0, "duration": 1.0}):
        with pytest.raises(AudioDecodeError, match="no audio frames in the requested range"):
            load_audio(path, **kwargs)
