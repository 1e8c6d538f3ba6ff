import numpy as np
import pytest

from muzo_lib.audio import AudioDecodeError, audio_info, fix_length, load_audio, segment_signal
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
